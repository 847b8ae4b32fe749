import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createAgentServer } from "../../agent/agent-server";
import { AdapterError } from "../../src/contract";
import { repoFromRecording } from "../support/fixtures";

// Issue 13 item 12: the agent, like the manager, serves open (no token) only on loopback.

const CLI = path.resolve(import.meta.dirname, "../../agent/cli.ts");

describe("the agent refuses a non-loopback bind without a token", () => {
  it("createAgentServer throws for 0.0.0.0 and :: without a token; loopback or a token is fine", async () => {
    const repo = repoFromRecording("complete");
    for (const host of ["0.0.0.0", "::", "10.0.0.5"]) {
      expect(() => createAgentServer({ repoPath: repo, host, token: null, port: 0 }), host).toThrow(AdapterError);
      expect(() => createAgentServer({ repoPath: repo, host, token: null, port: 0 }), host).toThrow(/without OPS_AGENT_TOKEN/);
    }
    const withToken = createAgentServer({ repoPath: repo, host: "0.0.0.0", token: "a-long-agent-token", port: 0 });
    const { port } = await withToken.listen();
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ops/facts?loopId=demo-loop`);
      expect(res.status).toBe(401);
    } finally {
      await withToken.close();
    }
    const open = createAgentServer({ repoPath: repo, host: "127.0.0.1", token: null, port: 0 });
    await open.listen();
    await open.close();
  });

  it("`serve --host 0.0.0.0` without OPS_AGENT_TOKEN exits non-zero with the reason, before listening", () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env["OPS_AGENT_TOKEN"];
    const r = spawnSync(process.execPath, ["--import", "tsx", CLI, "serve", "--repo", repoFromRecording("complete"), "--host", "0.0.0.0", "--port", "0"], { env, encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/refusing to listen on 0\.0\.0\.0 without OPS_AGENT_TOKEN/);
    expect(r.stdout).not.toMatch(/"listening"/);
  });
});
