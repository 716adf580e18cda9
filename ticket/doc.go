// Package ticket is the ticketing service: organisers, events and voucher offers, seat classes,
// buyer accounts, identity checks per event, eligibility rules, per-person limits, first-come
// sales, lotteries with a provably fair draw, tickets bound to a person with rotating codes,
// official resale at face value, and reports.
//
// It is a relying party of the platform, and the proof that one can be built on the public API
// alone: it reaches the platform only through package client (verification sessions) and the
// platform's signed webhooks (package webhook), over HTTP, and keeps its own database with its
// own migrations (migrations/{sqlite,postgres}); it never imports the platform's packages.
// internal/archtest checks this.
//
// What it keeps of a person: the platform's pairwise id (sub), the name, and for each event a
// yes/no on its rules with the rule that refused. The date of birth and the address returned by
// an identity verification are used for the decision and dropped.
//
// Concurrency: limits and capacities are enforced by the database, with conditional updates
// (UPDATE … WHERE taken + n <= capacity, INSERT … ON CONFLICT DO UPDATE … WHERE n + k <= max)
// backed by CHECK constraints, so any number of nodes sharing one PostgreSQL never oversell.
// Purchases carry an idempotency key, so a client whose node died retries on another without
// buying twice.
//
// See docs/design/ticket.md.
package ticket
