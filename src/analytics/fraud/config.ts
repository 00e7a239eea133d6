// Fraud detector thresholds. Key names follow the YAML config (`fraud:` block);
// durations are in milliseconds, as src/config's duration() parses them, so the
// loaded config can be spread over DEFAULT_FRAUD_CONFIG as is.
//
// Threshold semantics, the same for every rule:
//   *_limit  a count that fires when REACHED (auth_fail_limit 10: the 10th failure fires,
//            as Kamailio's LAB-BRUTEFORCE ALERT and fail2ban's maxretry do);
//   max_*    a maximum that is allowed; fires when EXCEEDED (max_call_duration 3600 s:
//            a 3600 s call is fine, 3601 s fires).
// Windows are half-open (now − window, now]: an event exactly `window` old no longer counts.

export interface OffHoursConfig {
  /** Local time "HH:MM" when off-hours start (inclusive). */
  start: string;
  /** Local time "HH:MM" when off-hours end (exclusive); may be earlier than start (overnight). */
  end: string;
  /** IANA time zone, e.g. "Europe/Berlin". */
  timezone: string;
  /** Days (0 = Sunday) that are off-hours all day. */
  weekend_days: number[];
}

export interface FraudConfig {
  auth_fail_limit: number;
  auth_fail_window: number;
  /** Distinct usernames failing auth from one IP (credential stuffing / password spraying). */
  stuffing_user_limit: number;
  stuffing_window: number;
  /** Distinct users answered 404/403/401/407/484 from one IP (extension enumeration). */
  enumeration_user_limit: number;
  enumeration_window: number;
  /** Case-insensitive substrings of User-Agent headers of known attack tools. */
  scanner_user_agents: string[];
  /** A scanner IP is reported at most once per this interval. */
  scanner_repeat: number;
  max_call_duration: number;
  /** E.164 prefixes ("+882") of premium / high-fraud destinations. */
  high_risk_prefixes: string[];
  /** Dial-out prefixes that mean "international": 00 → +, 011 → + (North America). */
  international_prefixes: string[];
  /** The home country code (e.g. "+1"); calls to it are not international. Empty: every + number is. */
  home_country_code: string;
  /** Calls started by one account per minute that are allowed. */
  max_calls_per_minute: number;
  max_concurrent_calls: number;
  off_hours: OffHoursConfig | null;
  /** Wangiri: short unanswered inbound calls from one number prefix. */
  wangiri_call_limit: number;
  wangiri_window: number;
  /** A call that rang no longer than this and was not answered counts as a one-ring call. */
  wangiri_max_ring: number;
  /** Digits of the caller number (after normalising to +E.164) that group a burst. */
  wangiri_prefix_digits: number;
  /** ASR collapse on a route: ASR in the last window fell below this fraction of the previous window's. */
  asr_collapse_ratio: number;
  asr_collapse_window: number;
  asr_collapse_min_calls: number;
  /** Cap on every per-key table (IPs, accounts, routes, Call-IDs). */
  max_tracked_keys: number;
}

/**
 * High-risk prefixes: International Premium Rate Service (ITU-T E.164 +979),
 * international networks (+881 GMSS, +882, +883) and shared-cost / satellite
 * ranges that the CFCA and carrier fraud lists (e.g. the Communications Fraud
 * Control Association's IRSF reports) name as the top IRSF destinations, plus
 * a few small-island ranges frequently abused for short-stopping (+53 Cuba,
 * +225 Côte d'Ivoire, +232 Sierra Leone, +252 Somalia, +371 Latvia premium,
 * +677 Solomon Is., +678 Vanuatu, +686 Kiribati, +690 Tokelau, +870 Inmarsat).
 * A starting point, not an authority: tune it to your traffic.
 */
export const DEFAULT_HIGH_RISK_PREFIXES: readonly string[] = [
  '+979', '+881', '+882', '+883', '+870', '+53', '+225', '+232', '+252',
  '+371', '+677', '+678', '+686', '+690',
];

/**
 * User-Agents of attack tools (SIPVicious "friendly-scanner"/"sipvicious",
 * sipcli, VaxSIPUserAgent, pplsip, SIPScan, iWar, sundayddr, sip-scan, Cisco
 * "SIVuS", "smap"). sipsak is NOT here: it is a legitimate diagnostic tool that
 * admins (and this project's lab) use for OPTIONS pings.
 */
export const DEFAULT_SCANNER_USER_AGENTS: readonly string[] = [
  'friendly-scanner', 'sipvicious', 'sipcli', 'vaxsipuseragent', 'pplsip', 'sipscan',
  'sip-scan', 'iwar', 'sundayddr', 'sivus', 'smap', 'voipbuster', 'matrix',
];

export const DEFAULT_FRAUD_CONFIG: Readonly<FraudConfig> = Object.freeze({
  auth_fail_limit: 10,
  auth_fail_window: 60_000,
  stuffing_user_limit: 5,
  stuffing_window: 300_000,
  enumeration_user_limit: 10,
  enumeration_window: 60_000,
  scanner_user_agents: [...DEFAULT_SCANNER_USER_AGENTS],
  scanner_repeat: 3_600_000,
  max_call_duration: 3_600_000,
  high_risk_prefixes: [...DEFAULT_HIGH_RISK_PREFIXES],
  international_prefixes: ['00', '011'],
  home_country_code: '',
  max_calls_per_minute: 10,
  max_concurrent_calls: 5,
  off_hours: null,
  wangiri_call_limit: 10,
  wangiri_window: 300_000,
  wangiri_max_ring: 5_000,
  wangiri_prefix_digits: 6,
  asr_collapse_ratio: 0.5,
  asr_collapse_window: 300_000,
  asr_collapse_min_calls: 20,
  max_tracked_keys: 10_000,
});

/** Defaults overlaid with whatever the config file set (keys it did not set keep defaults). */
export function resolveFraudConfig(partial: Partial<FraudConfig> = {}): FraudConfig {
  const cfg = { ...DEFAULT_FRAUD_CONFIG, ...partial };
  // An empty list from the YAML default means "use ours", not "none": say `high_risk_prefixes: ["-"]` to disable.
  if (partial.high_risk_prefixes?.length === 0) cfg.high_risk_prefixes = [...DEFAULT_HIGH_RISK_PREFIXES];
  cfg.high_risk_prefixes = cfg.high_risk_prefixes.filter((p) => p !== '-');
  return cfg;
}
