-- +goose Up
-- The ticketing service's own schema (a relying party of the platform; never the platform's
-- database). Times are UTC unix nanoseconds. Limits and capacities are CHECK constraints, so that
-- no statement, however it is written, can sell past them.
CREATE TABLE organisers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash BYTEA NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);
CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  person_sub TEXT,
  created_at BIGINT NOT NULL
);
CREATE INDEX accounts_person ON accounts (person_sub);
CREATE TABLE logins (
  token_hash BYTEA PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts (id),
  expires_at BIGINT NOT NULL
);
-- A person is the platform's pairwise id for this service. Only the name is kept.
CREATE TABLE persons (
  sub TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  verified_at BIGINT NOT NULL,
  needs_reverify INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE events (
  id TEXT PRIMARY KEY,
  organiser_id TEXT NOT NULL REFERENCES organisers (id),
  kind TEXT NOT NULL CHECK (kind IN ('event', 'voucher')),
  name TEXT NOT NULL,
  venue TEXT NOT NULL,
  event_date TEXT NOT NULL,
  identity TEXT NOT NULL CHECK (identity IN ('none', 'login', 'identity')),
  min_age INTEGER NOT NULL CHECK (min_age >= 0),
  residency TEXT NOT NULL,
  max_per_person INTEGER NOT NULL CHECK (max_per_person > 0),
  sale TEXT NOT NULL CHECK (sale IN ('first_come', 'lottery')),
  created_at BIGINT NOT NULL
);
-- taken counts seats sold or won and not yet paid; issued counts seat numbers given out.
CREATE TABLE seat_classes (
  id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL REFERENCES events (id),
  name TEXT NOT NULL,
  price INTEGER NOT NULL CHECK (price >= 0),
  capacity INTEGER NOT NULL CHECK (capacity >= 0),
  taken INTEGER NOT NULL DEFAULT 0,
  issued INTEGER NOT NULL DEFAULT 0,
  CHECK (taken >= 0 AND taken <= capacity AND issued >= 0 AND issued <= capacity),
  UNIQUE (event_id, name)
);
-- What a holder (a person, or an account where the event checks no identity) holds or has
-- applied for, per event: the per-person limit.
CREATE TABLE holdings (
  event_id TEXT NOT NULL REFERENCES events (id),
  holder TEXT NOT NULL,
  n INTEGER NOT NULL,
  max_n INTEGER NOT NULL,
  CHECK (n >= 0 AND n <= max_n),
  PRIMARY KEY (event_id, holder)
);
CREATE TABLE eligibility (
  event_id TEXT NOT NULL REFERENCES events (id),
  sub TEXT NOT NULL,
  eligible INTEGER NOT NULL,
  reason TEXT NOT NULL,
  decided_at BIGINT NOT NULL,
  PRIMARY KEY (event_id, sub)
);
CREATE TABLE verifications (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts (id),
  event_id TEXT NOT NULL REFERENCES events (id),
  platform_session TEXT NOT NULL UNIQUE,
  purpose TEXT NOT NULL,
  companion INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
  sub TEXT,
  holder_url TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE orders (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts (id),
  idem_key TEXT NOT NULL,
  event_id TEXT NOT NULL REFERENCES events (id),
  created_at BIGINT NOT NULL,
  UNIQUE (account_id, idem_key)
);
CREATE TABLE tickets (
  id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL REFERENCES events (id),
  seat_class_id TEXT NOT NULL REFERENCES seat_classes (id),
  seat_no INTEGER NOT NULL CHECK (seat_no > 0),
  order_id TEXT NOT NULL,
  holder TEXT NOT NULL,
  account_id TEXT NOT NULL REFERENCES accounts (id),
  holder_name TEXT NOT NULL,
  price INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('valid', 'listed', 'redeemed')),
  generation INTEGER NOT NULL DEFAULT 0,
  voucher_code TEXT UNIQUE,
  admitted_at BIGINT,
  resold INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  UNIQUE (seat_class_id, seat_no)
);
CREATE INDEX tickets_holder ON tickets (holder);
CREATE INDEX tickets_account ON tickets (account_id);
CREATE INDEX tickets_order ON tickets (order_id);
-- A lottery round: the seed's hash is published when the round is created; the seed itself
-- only after the draw.
CREATE TABLE draws (
  event_id TEXT NOT NULL REFERENCES events (id),
  round INTEGER NOT NULL,
  seed BYTEA NOT NULL,
  seed_hash BYTEA NOT NULL,
  closes_at BIGINT NOT NULL,
  drawn_at BIGINT,
  pay_deadline BIGINT,
  PRIMARY KEY (event_id, round)
);
CREATE TABLE applications (
  id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL REFERENCES events (id),
  seat_class_id TEXT NOT NULL REFERENCES seat_classes (id),
  account_id TEXT NOT NULL REFERENCES accounts (id),
  sub TEXT NOT NULL,
  seats INTEGER NOT NULL CHECK (seats >= 1),
  status TEXT NOT NULL CHECK (status IN ('applied', 'won', 'lost', 'paid', 'expired')),
  won_round INTEGER,
  created_at BIGINT NOT NULL,
  UNIQUE (event_id, sub)
);
-- Everyone an application covers (the applicant and each companion): one application per
-- person and event, whichever account they use.
CREATE TABLE application_members (
  application_id TEXT NOT NULL REFERENCES applications (id),
  event_id TEXT NOT NULL REFERENCES events (id),
  sub TEXT NOT NULL,
  seats INTEGER NOT NULL,
  name TEXT NOT NULL,
  PRIMARY KEY (event_id, sub)
);
CREATE INDEX application_members_app ON application_members (application_id);
CREATE TABLE refusals (
  event_id TEXT NOT NULL REFERENCES events (id),
  reason TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (event_id, reason)
);

-- +goose Down
DROP TABLE refusals;
DROP TABLE application_members;
DROP TABLE applications;
DROP TABLE draws;
DROP TABLE tickets;
DROP TABLE orders;
DROP TABLE verifications;
DROP TABLE eligibility;
DROP TABLE holdings;
DROP TABLE seat_classes;
DROP TABLE events;
DROP TABLE persons;
DROP TABLE logins;
DROP TABLE accounts;
DROP TABLE organisers;
