import { GLOB_AS_LIKE } from './postgres-event-query.js';

/**
 * Migration 7: the hot paths as SQL functions, so that an append batch and a consumer's turn
 * (its answers, then its next claim) each cost one statement and one round trip instead of one
 * per step. PL/pgSQL keeps the plans of the statements inside a function per connection, and
 * each statement there reads what committed before it (READ COMMITTED takes a snapshot per
 * statement), so the row locks work exactly as they did statement by statement from the client.
 *
 * Lock order stays the one of `postgres-delivery.ts`: the consumer row, then delivery rows, then
 * attempt rows; appends lock their channels' rows in name order.
 *
 * Query plans. Rows are looked up one key at a time, through scalar subqueries or statements on
 * the whole key, never an EXISTS on a table (which the planner may turn into a join that scans a
 * consumer's whole delivery history per new event: seconds on 30 000 events). PL/pgSQL keeps each
 * connection's plans of these statements; they are good once the tables have statistics, which
 * the store makes sure of (see postgres-statistics.ts): a plan made without them, while `events`
 * was nearly empty, found an event by its id through (channel, id), walking the channel per
 * lookup. Planning every statement at each call instead cost ~3 ms of Postgres CPU per event.
 */
export const DELIVERY_FUNCTIONS = `
-- Open deliveries only: a consumer's claim reads its retries and expired leases, never its
-- delivered history. deliveries_open (channel, consumer, state, seq) goes: without statistics
-- the planner took it for lookups by (channel, consumer, seq), walking the consumer's whole
-- history per lookup; the primary key serves those, these two the states that are looked for.
CREATE INDEX deliveries_unacked ON deliveries (channel, consumer, seq) WHERE state IN ('inflight', 'retry');
CREATE INDEX deliveries_failed ON deliveries (channel, consumer, seq) WHERE state = 'failed';
DROP INDEX deliveries_open;

-- A consumer's event-type globs as LIKE patterns (see globToLike): LIKE's own wildcards and
-- its escape character are escaped first.
CREATE FUNCTION relay_like_patterns(filter jsonb) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
  SELECT COALESCE(array_agg(${GLOB_AS_LIKE}), '{}') FROM jsonb_array_elements_text(filter) AS g(pattern)
$$;

-- One group commit of appends. Returns a row per event, in order: its seq and whether it was
-- stored before (dedup), or a null seq for an unknown channel. NOTIFYs p_notify (when not null)
-- with each channel that got new events; Postgres delivers that after COMMIT.
CREATE FUNCTION relay_append_events(
  p_channels text[], p_ids text[], p_types text[], p_received timestamptz[], p_ips text[], p_headers text[],
  p_bodies bytea[], p_synthetic boolean[], p_sessions text[], p_verifications text[], p_notify text
) RETURNS TABLE (seq bigint, duplicate boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_seqs bigint[];
  v_duplicates boolean[];
  v_touched text[];
BEGIN
  -- The lock that makes seqs gap-free and dedup exact across processes, held until COMMIT.
  PERFORM 1 FROM channels WHERE name = ANY (p_channels) ORDER BY name FOR UPDATE;
  -- A new statement, so it sees what another process committed before the lock was granted.
  WITH input AS (
    SELECT * FROM unnest(p_channels, p_ids, p_types, p_received, p_ips, p_headers, p_bodies, p_synthetic, p_sessions, p_verifications)
      WITH ORDINALITY AS t(channel, event_id, event_type, received_at, source_ip, headers, body, synthetic, session_id, verification, idx)
  ),
  known AS (SELECT i.*, c.last_seq FROM input i JOIN channels c ON c.name = i.channel),
  existing AS (
    SELECT k.channel, k.event_id, k.seq FROM (
      SELECT DISTINCT i.channel, i.event_id,
        (SELECT e.seq FROM events e WHERE e.channel = i.channel AND e.event_id = i.event_id) AS seq
      FROM known i
    ) k WHERE k.seq IS NOT NULL
  ),
  fresh AS (
    SELECT DISTINCT ON (k.channel, k.event_id) k.* FROM known k
    WHERE NOT EXISTS (SELECT 1 FROM existing x WHERE x.channel = k.channel AND x.event_id = k.event_id)
    ORDER BY k.channel, k.event_id, k.idx
  ),
  numbered AS (SELECT f.*, f.last_seq + row_number() OVER (PARTITION BY f.channel ORDER BY f.idx) AS new_seq FROM fresh f),
  inserted AS (
    INSERT INTO events (channel, seq, event_id, event_type, received_at, source_ip, headers, body, synthetic, session_id, verification)
    SELECT n.channel, n.new_seq, n.event_id, n.event_type, n.received_at, n.source_ip, n.headers, n.body, n.synthetic, n.session_id, n.verification
    FROM numbered n ORDER BY n.idx
  ),
  bumped AS (
    UPDATE channels c SET last_seq = m.last_seq FROM (SELECT n.channel, MAX(n.new_seq) AS last_seq FROM numbered n GROUP BY n.channel) m
    WHERE c.name = m.channel RETURNING c.name
  ),
  answers AS (
    SELECT i.idx, COALESCE(x.seq, n.new_seq) AS seq, n.new_seq IS NULL OR n.idx <> i.idx AS duplicate
    FROM input i
    LEFT JOIN existing x ON x.channel = i.channel AND x.event_id = i.event_id
    LEFT JOIN numbered n ON n.channel = i.channel AND n.event_id = i.event_id
  )
  SELECT array_agg(a.seq ORDER BY a.idx), array_agg(a.seq IS NOT NULL AND a.duplicate ORDER BY a.idx), (SELECT array_agg(b.name) FROM bumped b)
  INTO v_seqs, v_duplicates, v_touched
  FROM answers a;
  IF p_notify IS NOT NULL AND v_touched IS NOT NULL THEN
    PERFORM pg_notify(p_notify, t.name) FROM unnest(v_touched) AS t(name);
  END IF;
  RETURN QUERY SELECT * FROM unnest(v_seqs, v_duplicates);
END
$$;

-- One consumer's turn: first its answers (kind 'ack' or 'nack', one array element each, in
-- order), then a claim of up to c_limit events (none when 0), then when its next retry or lease
-- expiry falls due. Rows: ('answer', i, result, retry time) per answer, where result is
-- 'acked', 'retry', 'failed' or 'ignored'; ('claim', ...) per claimed event, in claim order, with
-- the event and its attempt; and one ('due', at). Each step behaves as the SQLite store's ack,
-- nack and claim (sqlite-delivery.ts); the store conformance suite holds both engines to it.
CREATE FUNCTION relay_consumer_turn(
  p_channel text, p_consumer text,
  a_kinds text[], a_seqs bigint[], a_attempts integer[], a_nows timestamptz[], a_statuses integer[], a_latencies double precision[],
  a_errors text[], a_retry_at timestamptz[], a_headers text[], a_bodies bytea[], a_bytes bigint[], a_truncated boolean[],
  c_session text, c_limit integer, c_ordered boolean, c_now timestamptz, c_lease_until timestamptz, c_max_bytes bigint,
  p_async_commit boolean
) RETURNS TABLE (
  kind text, idx integer, result text, at timestamptz, seq bigint, attempt integer, replay boolean,
  id bigint, event_id text, event_type text, received_at timestamptz, source_ip text, size integer, synthetic boolean,
  session_id text, headers text, body bytea
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  c consumers%ROWTYPE;
  d deliveries%ROWTYPE;
  r record;
  i integer;
  v_current boolean;
  v_failed boolean;
  v_seqs bigint[] := '{}';
  v_states text[] := '{}';
  v_prior integer[] := '{}';
  v_present bigint[] := '{}';
  v_acked_at timestamptz;
  v_attempts integer[];
  v_replays boolean[];
  v_due timestamptz;
  v_due_known boolean := false;
  v_used bigint := 0;
  v_taken integer := 0;
  v_full boolean := false;
  v_last bigint;
  v_found integer;
  v_new integer;
  v_last_taken bigint;
  v_next bigint;
  v_want integer;
BEGIN
  -- Delivery state only: a crash of Postgres may then lose the last answers and claims, and
  -- their events go out again; events themselves are appended with synchronous commit.
  IF p_async_commit THEN PERFORM set_config('synchronous_commit', 'off', true); END IF;
  SELECT * INTO c FROM consumers WHERE consumers.channel = p_channel AND consumers.name = p_consumer FOR UPDATE;

  FOR i IN 1 .. COALESCE(array_length(a_kinds, 1), 0) LOOP
    SELECT * INTO d FROM deliveries dl WHERE dl.channel = p_channel AND dl.consumer = p_consumer AND dl.seq = a_seqs[i] FOR UPDATE;
    IF a_kinds[i] = 'ack' THEN
      v_current := FOUND AND d.state <> 'acked';
      v_failed := false;
    ELSE
      v_current := FOUND AND d.state = 'inflight' AND d.attempts = a_attempts[i];
      v_failed := v_current AND c.max_attempts IS NOT NULL AND a_attempts[i] >= c.max_attempts;
    END IF;
    UPDATE attempts a SET finished_at = a_nows[i], status = a_statuses[i], latency_ms = a_latencies[i], error = a_errors[i],
        outcome = CASE WHEN a_kinds[i] = 'ack' THEN 'acked' WHEN v_failed THEN 'failed' ELSE 'retry' END,
        response_headers = a_headers[i], response_body = a_bodies[i], response_bytes = a_bytes[i], response_truncated = a_truncated[i]
      WHERE a.channel = p_channel AND a.consumer = p_consumer AND a.seq = a_seqs[i] AND a.attempt = a_attempts[i] AND a.outcome IS NULL;
    IF NOT v_current THEN
      RETURN QUERY SELECT 'answer'::text, i, 'ignored'::text, NULL::timestamptz, a_seqs[i], a_attempts[i], NULL::boolean,
        NULL::bigint, NULL::text, NULL::text, NULL::timestamptz, NULL::text, NULL::integer, NULL::boolean, NULL::text, NULL::text, NULL::bytea;
      CONTINUE;
    END IF;
    -- An ack counts even when it is late for its lease: the handler answered 2xx.
    UPDATE deliveries dl SET state = CASE WHEN a_kinds[i] = 'ack' THEN 'acked' WHEN v_failed THEN 'failed' ELSE 'retry' END,
        session = NULL, lease_expires_at = NULL,
        next_attempt_at = CASE WHEN a_kinds[i] = 'nack' AND NOT v_failed THEN a_retry_at[i] END
      WHERE dl.channel = p_channel AND dl.consumer = p_consumer AND dl.seq = a_seqs[i];
    IF a_kinds[i] = 'ack' THEN v_acked_at := a_nows[i]; END IF;
    RETURN QUERY SELECT 'answer'::text, i, CASE WHEN a_kinds[i] = 'ack' THEN 'acked' WHEN v_failed THEN 'failed' ELSE 'retry' END::text,
      CASE WHEN a_kinds[i] = 'nack' AND NOT v_failed THEN a_retry_at[i] END, a_seqs[i], a_attempts[i], NULL::boolean,
      NULL::bigint, NULL::text, NULL::text, NULL::timestamptz, NULL::text, NULL::integer, NULL::boolean, NULL::text, NULL::text, NULL::bytea;
  END LOOP;
  -- Once per turn, with the last ack's time.
  IF v_acked_at IS NOT NULL THEN
    UPDATE consumers cs SET last_ack_at = v_acked_at WHERE cs.channel = p_channel AND cs.name = p_consumer;
  END IF;

  IF c_limit > 0 AND c.name IS NOT NULL AND NOT c_ordered THEN
    -- When the next retry or lease expiry falls due, after the answers: a claim with none due
    -- now skips looking for them, and one that claims nothing returns this as its due time.
    SELECT MIN(CASE dl.state WHEN 'retry' THEN dl.next_attempt_at ELSE dl.lease_expires_at END) INTO v_due
      FROM deliveries dl WHERE dl.channel = p_channel AND dl.consumer = p_consumer AND dl.state IN ('inflight', 'retry');
    v_due_known := true;
  END IF;

  IF c_limit > 0 AND c.name IS NOT NULL THEN
    -- The candidates: deliveries due again, then new events, in order while they fit the byte
    -- budget (the first whatever its size), as ClaimBudget counts.
    IF c_ordered THEN
      -- Not SKIP LOCKED: in order, the first open delivery must be seen even while it is being settled.
      SELECT * INTO d FROM deliveries dl WHERE dl.channel = p_channel AND dl.consumer = p_consumer AND dl.state IN ('inflight', 'retry')
        ORDER BY dl.seq LIMIT 1 FOR UPDATE;
      IF FOUND THEN
        IF (d.state = 'retry' AND d.next_attempt_at <= c_now) OR (d.state = 'inflight' AND d.lease_expires_at <= c_now) THEN
          v_seqs := ARRAY[d.seq]; v_states := ARRAY[d.state]; v_prior := ARRAY[d.attempts];
        END IF;
        v_want := 0;
      ELSE
        v_want := 1;
      END IF;
    ELSE
      -- SKIP LOCKED: a delivery another transaction is settling is neither waited for nor handed out twice.
      IF v_due <= c_now THEN
        FOR r IN SELECT dl.seq, dl.state, dl.attempts,
            (SELECT octet_length(e.body) + octet_length(e.headers) FROM events e WHERE e.channel = p_channel AND e.seq = dl.seq) AS size
          FROM deliveries dl WHERE dl.channel = p_channel AND dl.consumer = p_consumer AND dl.state IN ('inflight', 'retry')
            AND ((dl.state = 'retry' AND dl.next_attempt_at <= c_now) OR (dl.state = 'inflight' AND dl.lease_expires_at <= c_now))
          ORDER BY dl.seq LIMIT c_limit FOR UPDATE SKIP LOCKED
        LOOP
          -- A delivery whose event retention removed has no size; it is found missing below and removed.
          IF v_taken > 0 AND c_max_bytes IS NOT NULL AND v_used + COALESCE(r.size, 0) > c_max_bytes THEN v_full := true; EXIT; END IF;
          v_used := v_used + COALESCE(r.size, 0); v_taken := v_taken + 1;
          v_seqs := v_seqs || r.seq; v_states := v_states || r.state; v_prior := v_prior || r.attempts;
        END LOOP;
      END IF;
      v_want := CASE WHEN v_full THEN 0 ELSE c_limit - v_taken END;
    END IF;

    IF v_want > 0 THEN
      -- New events after the position. The channel's last seq is read first: seqs are given out
      -- under its row lock and committed in order, so every event up to it is visible already.
      SELECT ch.last_seq INTO v_last FROM channels ch WHERE ch.name = p_channel;
      v_last := COALESCE(v_last, 0);
      v_found := 0; v_new := 0; v_last_taken := NULL;
      -- Nothing after the position: nothing to look for.
      IF v_last >= c.next_seq THEN
        FOR r IN SELECT e.seq, octet_length(e.body) + octet_length(e.headers) AS size FROM events e
          WHERE e.channel = p_channel AND e.seq >= c.next_seq AND e.seq <= v_last
            AND (jsonb_array_length(c.filter) = 0 OR e.event_type LIKE ANY (relay_like_patterns(c.filter)))
            AND (SELECT 1 FROM deliveries dl WHERE dl.channel = p_channel AND dl.consumer = p_consumer AND dl.seq = e.seq) IS NULL
          ORDER BY e.seq LIMIT v_want
        LOOP
          v_found := v_found + 1;
          IF v_taken > 0 AND c_max_bytes IS NOT NULL AND v_used + r.size > c_max_bytes THEN v_full := true; EXIT; END IF;
          v_used := v_used + r.size; v_taken := v_taken + 1; v_new := v_new + 1; v_last_taken := r.seq;
          v_seqs := v_seqs || r.seq; v_states := v_states || NULL::text; v_prior := v_prior || NULL::integer;
        END LOOP;
      END IF;
      -- The budget stopped the claim: the position moves only past what was taken. Fewer
      -- matches than asked for means every event up to the channel's last was looked at.
      IF v_full THEN v_next := COALESCE(v_last_taken + 1, c.next_seq);
      ELSIF v_found = v_want THEN v_next := v_last_taken + 1;
      ELSE v_next := GREATEST(c.next_seq, v_last + 1);
      END IF;
      IF v_next <> c.next_seq THEN
        UPDATE consumers cs SET next_seq = v_next WHERE cs.channel = p_channel AND cs.name = p_consumer;
      END IF;
    END IF;

    IF array_length(v_seqs, 1) > 0 THEN
      SELECT COALESCE(array_agg(p.seq ORDER BY p.ord), '{}') INTO v_present FROM unnest(v_seqs) WITH ORDINALITY AS p(seq, ord)
        WHERE (SELECT 1 FROM events e WHERE e.channel = p_channel AND e.seq = p.seq) IS NOT NULL;
      FOR i IN 1 .. array_length(v_seqs, 1) LOOP
        IF NOT v_seqs[i] = ANY (v_present) THEN
          -- Retention removed the event; its delivery state goes with it.
          DELETE FROM deliveries dl WHERE dl.channel = p_channel AND dl.consumer = p_consumer AND dl.seq = v_seqs[i];
        ELSIF v_states[i] = 'inflight' THEN
          UPDATE attempts a SET finished_at = c_now, error = 'no ack before the lease ended', outcome = 'abandoned'
            WHERE a.channel = p_channel AND a.consumer = p_consumer AND a.seq = v_seqs[i] AND a.attempt = v_prior[i] AND a.outcome IS NULL;
        END IF;
      END LOOP;
      WITH leased AS (
        INSERT INTO deliveries AS dl (channel, consumer, seq, state, attempts, session, lease_expires_at, next_attempt_at, replay)
        SELECT p_channel, p_consumer, p.seq, 'inflight', 1, c_session, c_lease_until, NULL, false FROM unnest(v_present) AS p(seq)
        ON CONFLICT (channel, consumer, seq) DO UPDATE SET
          state = 'inflight', attempts = dl.attempts + 1, session = excluded.session,
          lease_expires_at = excluded.lease_expires_at, next_attempt_at = NULL
        RETURNING dl.seq, dl.attempts, dl.replay
      ),
      started AS (
        INSERT INTO attempts (channel, consumer, seq, attempt, session, started_at)
        SELECT p_channel, p_consumer, l.seq, l.attempts, c_session, c_now FROM leased l
      )
      SELECT array_agg(l.attempts ORDER BY p.ord), array_agg(l.replay ORDER BY p.ord)
      INTO v_attempts, v_replays
      FROM leased l JOIN unnest(v_present) WITH ORDINALITY AS p(seq, ord) ON p.seq = l.seq;
      -- One event at a time: a join might hash the channel's events.
      FOR i IN 1 .. COALESCE(array_length(v_present, 1), 0) LOOP
        RETURN QUERY SELECT 'claim'::text, i, NULL::text, NULL::timestamptz, e.seq, v_attempts[i], v_replays[i],
            e.id, e.event_id, e.event_type, e.received_at, e.source_ip, octet_length(e.body), e.synthetic, e.session_id, e.headers, e.body
          FROM events e WHERE e.channel = p_channel AND e.seq = v_present[i];
      END LOOP;
    END IF;
  END IF;

  IF NOT (v_due_known AND COALESCE(array_length(v_seqs, 1), 0) = 0) THEN
    SELECT MIN(CASE dl.state WHEN 'retry' THEN dl.next_attempt_at ELSE dl.lease_expires_at END) INTO v_due
      FROM deliveries dl WHERE dl.channel = p_channel AND dl.consumer = p_consumer AND dl.state IN ('inflight', 'retry');
  END IF;
  RETURN QUERY SELECT 'due'::text, NULL::integer, NULL::text, v_due,
    NULL::bigint, NULL::integer, NULL::boolean, NULL::bigint, NULL::text, NULL::text, NULL::timestamptz, NULL::text, NULL::integer, NULL::boolean, NULL::text, NULL::text, NULL::bytea;
END
$$;
`;

/**
 * Migration 8: the append is planned once per connection. Its parameters are arrays, and a plan
 * made for their values (a custom plan, one row) always looks cheaper to Postgres than one made
 * for any values, so it planned the statement afresh on every call: ~0.6 ms of Postgres CPU per
 * append batch, five times what running it costs. Every lookup in it is by a unique key (a
 * channel's name, an event's (channel, event id)), which a plan for any values finds the same
 * way at any table size (docs/benchmarks.md, section 5).
 */
export const APPEND_PLANNED_ONCE = 'ALTER FUNCTION relay_append_events SET plan_cache_mode = force_generic_plan;';
