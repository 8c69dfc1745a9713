// Package metrics counts what a node does, for /metrics: requests per
// surface, and the counters of replication, repair, GC and upload expiry.
// The daemon adds the gauges it reads off the stores when it writes the
// page.
//
// It knows Prometheus (client_golang, whose handler serves the page); it
// must not know the stores or HTTP routing.
package metrics
