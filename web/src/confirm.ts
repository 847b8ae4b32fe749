import { h } from "./dom";

// Asking before anything that cannot be taken back (cancel a run, reject an approval, replay a cursor, remove a
// Sprite): a modal <dialog> that names what will happen, with the safe choice focused and Escape meaning "no".

export function confirmAction(opts: { title: string; body: string; confirm: string; cancel?: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const yes = h("button", { type: "button", class: "danger", "data-confirm": "yes" }, opts.confirm);
    const no = h("button", { type: "button", "data-confirm": "no" }, opts.cancel ?? "Keep it");
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-body" },
      h("h2", { id: "confirm-title" }, opts.title),
      h("p", { id: "confirm-body" }, opts.body),
      h("div", { class: "buttons" }, no, yes),
    );
    let answered = false;
    const done = (answer: boolean) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    dialog.addEventListener("close", () => done(false));
    document.body.appendChild(dialog);
    dialog.showModal();
    no.focus();
  });
}
