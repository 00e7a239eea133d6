// What every format may use besides the alert itself. Never holds a secret.
export interface RenderContext {
  /** The webhook's name (Alertmanager `receiver`). */
  receiver: string;
  /** Where a human can look (the agent's /metrics or a dashboard); optional. */
  externalURL?: string;
  /** Unix ms of this attempt (Alertmanager's endsAt of a firing alert counts from it); default Date.now(). */
  now?: number;
}
