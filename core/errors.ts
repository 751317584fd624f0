/**
 * The one error catalogue. Every failure the project reports on purpose has a stable code here, a hint
 * that tells the user what to do, and whether retrying can fix it. Consumers decide retry / dead-letter /
 * stop from `retriable` alone, never from message text.
 */
export const errorCatalogue = {
  CONFIG_INVALID: {
    retriable: false,
    hint: 'Fix the variable named above (see docs/configuration.md) and start again.',
  },
  JAVA_MISSING: {
    retriable: false,
    hint: 'Install a JDK of the version named above (Debian: apt-get install openjdk-17-jre-headless; Apicurio Registry needs 21+), or point JAVA_HOME at one.',
  },
  MAVEN_MISSING: {
    retriable: false,
    hint: 'Install Apache Maven 3.8+ (Debian: apt-get install maven), or set KAFKA_BROKERS and SCHEMA_REGISTRY_URL to use a cluster you already run.',
  },
  MAVEN_FETCH_FAILED: {
    retriable: true,
    hint: 'Maven could not download the local stack and the cache in .cache/ is empty. Check that Maven Central is reachable (proxy settings in ~/.m2/settings.xml), then run again; later runs work offline.',
  },
  GO_MISSING: {
    retriable: false,
    hint: "Install Go 1.22+ (https://go.dev/dl/, or Debian: apt-get install golang), which builds the Go tools named above into .cache/go/ once; or leave out what needs them (the integrity lane's network-partition scenario).",
  },
  GO_BUILD_FAILED: {
    retriable: true,
    hint: 'Go could not fetch or build the tool named above, and .cache/go/bin/ does not hold it yet. Check that the Go module proxy is reachable (GOPROXY, GOFLAGS in the environment), then run again; later runs use the cached binary offline.',
  },
  PORT_TAKEN: {
    retriable: false,
    hint: 'Stop what listens there, or choose another port (0 picks a free one).',
  },
  BROKER_NOT_READY: {
    retriable: true,
    hint: 'The local Kafka broker did not answer in time; its log tail is above. Free memory or CPU, or raise LOCAL_STACK_TIMEOUT_MS.',
  },
  REGISTRY_NOT_READY: {
    retriable: true,
    hint: 'The local schema registry did not answer in time; its log tail is above. Free memory or CPU, or raise LOCAL_STACK_TIMEOUT_MS.',
  },
  FAULT_PROXY_NOT_READY: {
    retriable: true,
    hint: 'The TCP fault proxy (Toxiproxy) of the local stack did not answer on its API port in time; its log tail is above. Free CPU, or delete .cache/go/bin/ to build it again.',
  },
  STACK_PROCESS_EXITED: {
    retriable: false,
    hint: 'A process of the local stack stopped by itself; its log tail is above and says why.',
  },
  LOCAL_STACK_DATA_IN_USE: {
    retriable: false,
    hint: 'Another local stack (an earlier `start` still running) uses this data folder: stop it, or give this one another LOCAL_STACK_DATA_DIR.',
  },
  INVALID_JSON: {
    retriable: false,
    hint: 'The webhook body is not JSON. It was stored as is in the dead-letter topic and answered 200 (retrying cannot fix it); check what posts to the webhook URL.',
  },
  NOT_AN_EVENT: {
    retriable: false,
    hint: 'A Mailjet body is one event object or an array of them; this value is neither. It went to the dead-letter topic; check what posts to the webhook URL.',
  },
  UNKNOWN_EVENT_TYPE: {
    retriable: false,
    hint: 'The event type is none of sent, open, click, bounce, blocked, spam, unsub. It went to the dead-letter topic; if Mailjet added a type, upgrade and re-drive the dead letters.',
  },
  INVALID_EVENT_FIELD: {
    retriable: false,
    hint: 'A required field (`event`, `time` as Unix seconds) is missing or has the wrong type. The event went to the dead-letter topic with this reason.',
  },
  JSON_TOO_DEEP: {
    retriable: false,
    hint: 'The event or identify call nests objects and arrays deeper than 64 levels (MAX_JSON_DEPTH), which no Mailjet event or Segment call does. It went to the dead-letter topic as received and was answered 200; the rest of its body was stored. Check what posts to the URL.',
  },
  KAFKA_AUTH_FAILED: {
    retriable: false,
    hint: 'Check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM against the user the cluster knows (Confluent Cloud: an API key of this cluster, mechanism PLAIN), then start again.',
  },
  KAFKA_TLS_FAILED: {
    retriable: false,
    hint: "Point KAFKA_SSL_CA_FILE at the CA that signed the brokers' certificates (their names must match KAFKA_BROKERS), check that KAFKA_SECURITY_PROTOCOL matches the brokers' listener, then start again.",
  },
  REGISTRY_AUTH_FAILED: {
    retriable: false,
    hint: 'Check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD (Confluent Cloud: the registry API key and secret, not the cluster ones) and the account rights on the subjects, then start again.',
  },
  KAFKA_SESSION_TIMEOUT_REFUSED: {
    retriable: false,
    hint: "Set KAFKA_SESSION_TIMEOUT_MS within the brokers' group.min.session.timeout.ms and group.max.session.timeout.ms (6000 and 1800000 unless the cluster changed them), then start again.",
  },
  KAFKA_UNAVAILABLE: {
    retriable: true,
    hint: 'Kafka did not acknowledge in time. The webhook was answered 503 with Retry-After, so Mailjet sends it again; check the brokers (KAFKA_BROKERS) and the topic.',
  },
  INGRESS_OVERLOADED: {
    retriable: true,
    hint: 'More events wait for Kafka than INGRESS_MAX_PENDING_EVENTS allows; the webhook was answered 503 with Retry-After. Add ingress instances or check Kafka latency.',
  },
  SCHEMA_REGISTRATION_FAILED: {
    retriable: false,
    hint: 'The schema registry refused a schema of this project: incompatible with the subject\'s latest version under its compatibility rule, or ("BACKWARD != ...") the subject was set to another rule than BACKWARD, which the project\'s contracts are checked against: set it back with PUT /config/<subject> {"compatibility":"BACKWARD"}. Check SCHEMA_REGISTRY_URL and the subject named above.',
  },
  TOPIC_SETUP_FAILED: {
    retriable: true,
    hint: 'The topics could not be checked or created. Create them yourself (see docs/topics-and-schemas.md) or give the client the right to create them, and to describe their configs (DescribeConfigs: start-up checks max.message.bytes).',
  },
  TOPIC_TOO_SMALL: {
    retriable: false,
    hint: 'A topic\'s max.message.bytes is below what this project writes to it (see "Limits" in docs/topics-and-schemas.md). Raise it (kafka-configs --alter --entity-type topics --entity-name <topic> --add-config max.message.bytes=<bytes>), or lower the setting named above (and INGRESS_BODY_LIMIT_BYTES with DEAD_LETTER_TOPIC_MAX_MESSAGE_BYTES), then start again.',
  },
  EVENT_TOO_LARGE: {
    retriable: false,
    hint: "The event is larger than the raw topic takes (TOPIC_MAX_MESSAGE_BYTES), so it went whole to the dead-letter topic and the webhook was answered 200. Find what makes it large (usually a long Payload or custom field); to store such events, raise the raw topic's max.message.bytes and TOPIC_MAX_MESSAGE_BYTES, then re-drive the dead letters.",
  },
  UNMAPPABLE_EVENT: {
    retriable: false,
    hint: "The raw event cannot become a Segment call; the reason is above and in the dead letter's dlq.error.message header (no email and no user id, an unknown event type, unreadable event_json, a field nested too deep to write as JSON). It went to the dead-letter topic: set the connector's identity options (user id from CustomID or a Payload path, or the contact-id fallback) or fix what produces the raw topic, then re-drive the dead letters.",
  },
  SEGMENT_EVENT_TOO_LARGE: {
    retriable: false,
    hint: "The Segment call is over Segment's 32 KB limit per event, so it was not sent (Segment would refuse the whole batch). Find it by its messageId and shorten the field that makes it large, usually a long custom payload.",
  },
  SEGMENT_REJECTED: {
    retriable: false,
    hint: 'Segment refused this event even when it was sent alone (400 or another 4xx; its answer is above), so retrying cannot help; the other events of the batch were delivered. Fix the event, or the mapping that produced it.',
  },
  SEGMENT_AUTH_FAILED: {
    retriable: false,
    hint: 'Segment refused the write key (401 or 403). Check SEGMENT_WRITE_KEY (the write key of an HTTP API source) and that the Segment endpoint is in the region of that workspace (EU: https://events.eu1.segmentapis.com), then start again.',
  },
  SEGMENT_UNAVAILABLE: {
    retriable: true,
    hint: 'Segment did not accept the events within the retry time (5xx, 429, timeouts or no connection). Their offsets were not committed, so they are delivered again; check status.segment.com and the network path to the Segment endpoint.',
  },
  UNDECODABLE_RECORD: {
    retriable: false,
    hint: 'The record is not Avro in Confluent wire format with a schema id the registry knows. It went to the dead-letter topic with its original bytes; find who wrote it (dlq.origin.* headers).',
  },
  WRONG_SCHEMA: {
    retriable: false,
    hint: "The record names a schema the registry knows, but not one this topic's schema can read (often a record of another topic, such as a normalized or identify record, produced here by mistake). It went to the dead-letter topic with its original bytes; find who wrote it (dlq.origin.* headers) and produce it to its own topic.",
  },
  REGISTRY_UNAVAILABLE: {
    retriable: true,
    hint: 'The schema registry did not answer. Records are retried, not dead-lettered; a process started meanwhile waits for it, live and not ready (the ingress answers webhooks 503 with Retry-After until its schema has an id). Check SCHEMA_REGISTRY_URL and the registry.',
  },
  REPLAY_ARGUMENT_INVALID: {
    retriable: false,
    hint: 'Fix the replay argument named above (`./mailjet-connector replay --help` lists them) and run the command again; nothing was read or sent.',
  },
  IDENTIFY_INVALID: {
    retriable: false,
    hint: "Segment's identify spec needs a JSON object with a userId or an anonymousId (and traits an object). The call went to the destination's dead-letter topic with this reason and was answered 200; check what posts to the destination.",
  },
  DESTINATION_OVERLOADED: {
    retriable: true,
    hint: 'More records wait for Kafka than DESTINATION_MAX_PENDING_RECORDS allows; the request was answered 503 (Segment retries for 4 hours). Add destination instances or check Kafka latency.',
  },
  MAILJET_AUTH_FAILED: {
    retriable: false,
    hint: 'Mailjet refused the API key pair (401 or 403). Check MAILJET_API_KEY and MAILJET_API_SECRET (Mailjet account: API key management) and MAILJET_API_URL (US accounts: https://api.us.mailjet.com), then start again.',
  },
  MAILJET_LIST_NOT_FOUND: {
    retriable: false,
    hint: 'Mailjet has no contact list with MAILJET_LIST_ID (404). Create the list or set MAILJET_LIST_ID to the ID Mailjet shows under Contacts > Contact lists, then start again.',
  },
  MAILJET_REJECTED: {
    retriable: false,
    hint: "Mailjet refused this contact (400; its answer is above), so retrying cannot help. It went to the destination's dead-letter topic; fix the trait (or the property in Mailjet), then re-drive it: ./mailjet-connector replay --dead-letters --topic segment.identifies.dlq --from <when it failed>.",
  },
  PROPERTY_TYPE_MISMATCH: {
    retriable: false,
    hint: "A trait's value does not fit the type of the Mailjet contact property of that name (e.g. text into an int property). The contact went to the destination's dead-letter topic; change the property's type in Mailjet (then restart the destination) or the trait's value, then re-drive it: ./mailjet-connector replay --dead-letters --topic segment.identifies.dlq --from <when it failed>.",
  },
  MAILJET_UNAVAILABLE: {
    retriable: true,
    hint: "Mailjet answered in a way a retry may fix but the destination did not expect (a status other than 404 to reading the list, a body it cannot read); 429s, 5xx, timeouts and refused connections are waited out before it comes to this. It is retried with backoff: a batch is not committed and comes again, a start-up waits (not ready). If it lasts, check status.mailjet.com and that MAILJET_API_URL is Mailjet's API, not a proxy or a web page.",
  },
} as const satisfies Record<string, { retriable: boolean; hint: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export class ConnectorError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly hint: string;

  constructor(code: ErrorCode, detail: string, options?: { cause?: unknown }) {
    const { hint, retriable } = errorCatalogue[code];
    super(`${detail}\n  What to do: ${hint}`, options);
    this.name = 'ConnectorError';
    this.code = code;
    this.retriable = retriable;
    this.hint = hint;
  }
}

export function isRetriable(err: unknown): boolean {
  return err instanceof ConnectorError && err.retriable;
}

/**
 * One line about `err` for a dead letter's header and the log: a ConnectorError's detail without its
 * hint (the code leads to it), any other error with its name (a RangeError says more than its message).
 */
export function firstLine(err: unknown): string {
  const text =
    err instanceof ConnectorError
      ? err.message
      : err instanceof Error
        ? `${err.name}: ${err.message}`
        : String(err);
  return text.split('\n')[0] ?? text;
}
