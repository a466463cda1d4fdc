import type TestAgent from 'supertest/lib/agent.js';

/** Opens an account and returns its id. */
export async function openAccount(
  http: TestAgent,
  body: { ownerId?: string; initialDeposit?: number; currency?: string } = {},
): Promise<string> {
  const res = await http
    .post('/accounts')
    .send({ ownerId: 'owner', ...body })
    .expect(201);
  return res.body.accountId;
}

/** The balance from the event store (authoritative, no read-model lag). */
export async function balanceOf(http: TestAgent, accountId: string): Promise<number> {
  const res = await http.get(`/accounts/${accountId}/state`).expect(200);
  return res.body.balance;
}

/**
 * Polls GET /transfers/:id until the saga has finished (completed or failed). Bounded: fails the
 * test after `timeoutMs`. A saga's end has no consistency token the client knows in advance.
 */
export async function waitForTransfer(
  http: TestAgent,
  transferId: string,
  timeoutMs = 20_000,
): Promise<{ status: string; reason?: string; [key: string]: unknown }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await http.get(`/transfers/${transferId}`);
    if (res.status === 200 && res.body.status !== 'pending') return res.body;
    if (Date.now() > deadline)
      throw new Error(`transfer ${transferId} still ${res.body.status ?? res.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
