/** What every account command answers (CONTRACT §3): the account, its version and the consistency token. */
export interface AccountCommandResult {
  accountId: string;
  version: number;
  position: number;
}
