import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

// Process-wide series (counters and histograms observed where the work happens). Series read from the
// database or from one server's state (runs by state, leases, subscriptions) are collected per server at
// scrape time: see src/observability/scrape.ts.

export const processRegistry = new Registry();
collectDefaultMetrics({ register: processRegistry, prefix: "superloop_ops_process_" });

const registers = [processRegistry];

export const ingestEvents = new Counter({ name: "superloop_ops_ingest_events_total", help: "Event lines committed by ingest", registers });
export const ingestBatches = new Counter({ name: "superloop_ops_ingest_batches_total", help: "Ingest commits (one per poll that changed something)", registers });
export const ingestConflicts = new Counter({ name: "superloop_ops_ingest_commit_conflicts_total", help: "Ingest commits refused (cursor moved, lease lost): the run is re-polled", registers });
export const pollErrors = new Counter({
  name: "superloop_ops_poll_errors_total",
  help: "Failed polls by transport and error code",
  labelNames: ["transport", "code"] as const,
  registers,
});
export const subscriptionOverflows = new Counter({
  name: "superloop_ops_subscription_buffer_overflows_total",
  help: "Subscribers told to resync because their socket buffer passed the limit",
  labelNames: ["subscription"] as const,
  registers,
});
export const alertDeliveries = new Counter({
  name: "superloop_ops_alert_deliveries_total",
  help: "Alert delivery attempts by sink and outcome (delivered | retry | dead)",
  labelNames: ["sink", "outcome"] as const,
  registers,
});
export const alertRetries = new Counter({ name: "superloop_ops_alert_retries_total", help: "Alert attempts that will be retried", labelNames: ["sink"] as const, registers });
export const alertsRaised = new Counter({ name: "superloop_ops_alerts_raised_total", help: "Condition episodes opened", labelNames: ["condition", "severity"] as const, registers });
export const alertAttemptSeconds = new Histogram({
  name: "superloop_ops_alert_attempt_duration_seconds",
  help: "Time of one alert send attempt",
  labelNames: ["sink"] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers,
});
export const alertQueueSeconds = new Histogram({
  name: "superloop_ops_alert_enqueue_to_first_attempt_seconds",
  help: "From the change that raised an alert to its first send attempt",
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
  registers,
});
export const intentConfirmSeconds = new Histogram({
  name: "superloop_ops_intent_dispatch_to_confirm_seconds",
  help: "From an intent's dispatch to the evidence that confirmed it",
  labelNames: ["kind"] as const,
  buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
  registers,
});
export const httpRequestSeconds = new Histogram({
  name: "superloop_ops_http_request_duration_seconds",
  help: "HTTP requests by route, method and status",
  labelNames: ["route", "method", "status"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers,
});
export const graphqlOperationSeconds = new Histogram({
  name: "superloop_ops_graphql_operation_duration_seconds",
  help: "GraphQL query and mutation execution by operation type and name",
  labelNames: ["type", "operation"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers,
});
export const alertDispatcherLeader = new Gauge({ name: "superloop_ops_alert_dispatcher_leader", help: "1 while this replica runs the alert dispatcher", registers });
