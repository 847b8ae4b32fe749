/** An idempotency key as the API, opsctl --key and the follow-up start (`follow-up:<uuid>`) use it. */
export const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{8,128}$/;
