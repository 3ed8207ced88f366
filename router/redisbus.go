package router

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisBus is the Bus on Redis Streams: router replicas given the same
// Redis and prefix share every session, so a party may publish to one
// replica and subscribe on another, and resume on a third when its replica
// goes away.
//
// Each session has three keys with the session id as hash tag (one cluster
// slot, so one Lua script may touch them all):
//
//	<prefix>s:{<session>}:info    hash: parties, exp (Unix ms), maxb, maxn,
//	                              n (entries), b (bytes), closed (reason)
//	<prefix>s:{<session>}:log     stream: entry seq N has id 0-N, fields
//	                              f (from), t (to), s (sender_seq), d (data)
//	<prefix>s:{<session>}:dedupe  hash: "<from>|<sender_seq>" -> "<seq>:<sha256(data)>"
//
// A seq is the entry's stream position, so resuming after seq N is XREAD
// from id 0-N. Open, Info, Append, Read and Close each run one Lua script, so
// dedupe, limits, expiry and close are atomic across replicas; the clock
// that decides expiry is the Redis server's, the same for every replica.
//
// A closed session keeps its info hash (with the reason) and a stream
// holding just the close marker, id 1-0 and field "closed", until
// Expires + an hour; its entries and dedupe hash are freed at once. Every
// key expires then (PEXPIREAT), so Redis forgets sessions on its own.
//
// Memory: the per-session limits (MaxEnvelopes, MaxBytes) bound each
// session, and Redis' maxmemory bounds them all: when Redis refuses a write
// for want of memory, Append returns ErrBusFull. The server must run with
// maxmemory-policy noeviction: an evicting policy would silently drop
// streams (all keys here carry a TTL, so the volatile-* policies too).
//
// A waiting Read holds a pool connection in XREAD BLOCK (up to 5 s at a
// time). With one client for everything, waiting readers can take every
// pooled connection and appends then queue behind them for seconds (seen
// under load: 10 concurrent signings went from 2.9 s to 13 s at p50); give
// the readers their own client (WithReadClient) with a pool sized for the
// Subscribe streams a replica serves at once. A Read that finds no free
// connection in time fails, and the Service reports that as Unavailable,
// which clients retry.
type RedisBus struct {
	c      redis.UniversalClient
	reads  redis.UniversalClient // XREAD BLOCK; c unless WithReadClient
	prefix string
}

// NewRedisBus returns a bus keeping its sessions in c under prefix (e.g.
// "tsskit:router:"; without braces, which Redis Cluster reads as a hash tag).
func NewRedisBus(c redis.UniversalClient, prefix string) *RedisBus {
	return &RedisBus{c: c, reads: c, prefix: prefix}
}

// WithReadClient makes blocking reads use r (same server, its own pool),
// so that waiting subscribers never hold up appends.
func (b *RedisBus) WithReadClient(r redis.UniversalClient) *RedisBus {
	b.reads = r
	return b
}

const (
	// redisGrace is how long past its expiry a session is remembered as
	// closed, as in the memory bus.
	redisGrace = time.Hour
	// redisBlock bounds one XREAD BLOCK, so a waiting Read rechecks its
	// session (expiry) and a cancelled one frees its connection that soon.
	redisBlock = 5 * time.Second
	// closeMarkerID sorts after every entry id (0-<seq>), so any blocked
	// reader, whatever its after, is woken by it.
	closeMarkerID = "1-0"
)

// Why a marker entry and not a "closed" key polled between short blocks: a
// reader blocked in XREAD on any replica is woken by the XADD of the marker
// the moment Close (or expiry) happens, with no polling delay and no extra
// round trips while it waits; and since the marker stays in the stream
// until the keys expire, a reader that checked the session just before the
// close and then blocks finds the marker at once instead of missing it.

// redisLib is shared by the scripts: KEYS are the session's info, log and
// dedupe keys, ARGV[1] is the grace in ms.
//
// Each script starts with a shebang (Redis 7): Open and Append, which add
// data, are refused whole when Redis is out of memory (ErrBusFull); Info,
// Read and Close may run then (allow-oom), because all they may write is a
// close, which frees a session's memory.
const redisLib = `
local grace = tonumber(ARGV[1])

local function now_ms()
	local t = redis.call('TIME')
	return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- close frees the entries and the dedupe hash, records the reason and
-- appends the close marker, which wakes every blocked reader.
local function close(reason)
	local exp = tonumber(redis.call('HGET', KEYS[1], 'exp'))
	redis.call('HSET', KEYS[1], 'closed', reason)
	redis.call('HDEL', KEYS[1], 'parties')
	redis.call('XTRIM', KEYS[2], 'MAXLEN', 0)
	redis.call('XADD', KEYS[2], '` + closeMarkerID + `', 'closed', reason)
	redis.call('PEXPIREAT', KEYS[2], exp + grace)
	redis.call('DEL', KEYS[3])
end

-- check returns nil for an open session, else the reply for a closed or an
-- unknown one; a session past its expiry is closed here.
local function check()
	if redis.call('EXISTS', KEYS[1]) == 0 then
		return {'unknown'}
	end
	local reason = redis.call('HGET', KEYS[1], 'closed')
	if reason then
		return {'closed', reason}
	end
	if now_ms() > tonumber(redis.call('HGET', KEYS[1], 'exp')) then
		close('session expired')
		return {'closed', 'session expired'}
	end
	return nil
end
`

// ARGV[2] parties (JSON), ARGV[3] expiry (Unix ms), ARGV[4] max bytes,
// ARGV[5] max envelopes.
var redisOpen = redis.NewScript("#!lua" + redisLib + `
if redis.call('EXISTS', KEYS[1]) == 1 then
	return check() or {'ok'}
end
-- Leftovers of an earlier session of this id whose info key expired first.
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'parties', ARGV[2], 'exp', ARGV[3], 'maxb', ARGV[4], 'maxn', ARGV[5], 'n', 0, 'b', 0)
redis.call('PEXPIREAT', KEYS[1], tonumber(ARGV[3]) + grace)
return {'ok'}
`)

var redisInfo = redis.NewScript("#!lua flags=allow-oom" + redisLib + `
local r = check()
if r then
	return r
end
local v = redis.call('HMGET', KEYS[1], 'parties', 'exp', 'maxb', 'maxn')
return {'ok', v[1], v[2], v[3], v[4]}
`)

// ARGV[2] from, ARGV[3] to, ARGV[4] sender_seq, ARGV[5] data,
// ARGV[6] SHA-256 of data. Replies {'ok', seq}, or an error status.
var redisAppend = redis.NewScript("#!lua" + redisLib + `
local r = check()
if r then
	return r
end
local key = ARGV[2] .. '|' .. ARGV[4]
local prev = redis.call('HGET', KEYS[3], key)
if prev then
	local i = string.find(prev, ':', 1, true)
	local seq = string.sub(prev, 1, i - 1)
	if string.sub(prev, i + 1) ~= ARGV[6] then
		return {'conflict'}
	end
	-- Same digest: compare the stored data itself, so not even a SHA-256
	-- collision passes for a retry.
	local e = redis.call('XRANGE', KEYS[2], '0-' .. seq, '0-' .. seq)
	if e[1] then
		local f = e[1][2]
		for j = 1, #f, 2 do
			if f[j] == 'd' and f[j + 1] == ARGV[5] then
				return {'ok', tonumber(seq)}
			end
		end
	end
	return {'conflict'}
end
local n = tonumber(redis.call('HGET', KEYS[1], 'n')) + 1
local b = tonumber(redis.call('HGET', KEYS[1], 'b')) + string.len(ARGV[5])
if n > tonumber(redis.call('HGET', KEYS[1], 'maxn')) or b > tonumber(redis.call('HGET', KEYS[1], 'maxb')) then
	return {'full'}
end
redis.call('XADD', KEYS[2], '0-' .. n, 'f', ARGV[2], 't', ARGV[3], 's', ARGV[4], 'd', ARGV[5])
redis.call('HSET', KEYS[1], 'n', n, 'b', b)
redis.call('HSET', KEYS[3], key, n .. ':' .. ARGV[6])
if n == 1 then
	local at = tonumber(redis.call('HGET', KEYS[1], 'exp')) + grace
	redis.call('PEXPIREAT', KEYS[2], at)
	redis.call('PEXPIREAT', KEYS[3], at)
end
return {'ok', n}
`)

// ARGV[2] first id to return, ARGV[3] max. Replies {'ok', ms left before
// expiry, entries}, or an error status.
var redisRead = redis.NewScript("#!lua flags=allow-oom" + redisLib + `
local r = check()
if r then
	return r
end
local left = tonumber(redis.call('HGET', KEYS[1], 'exp')) - now_ms()
return {'ok', left, redis.call('XRANGE', KEYS[2], ARGV[2], '+', 'COUNT', ARGV[3])}
`)

// ARGV[2] reason.
var redisClose = redis.NewScript("#!lua flags=allow-oom" + redisLib + `
local r = check()
if r == nil then
	close(ARGV[2])
	return {'ok'}
end
if r[1] == 'unknown' then
	return r
end
return {'ok'}
`)

func (b *RedisBus) keys(session string) []string {
	k := b.prefix + "s:{" + session + "}:"
	return []string{k + "info", k + "log", k + "dedupe"}
}

// run runs a script for session and turns its status into the bus's errors.
func (b *RedisBus) run(ctx context.Context, s *redis.Script, session string, args ...any) ([]any, error) {
	args = append([]any{redisGrace.Milliseconds()}, args...)
	res, err := s.Run(ctx, b.c, b.keys(session), args...).Slice()
	if err != nil {
		return nil, redisErr(ctx, err)
	}
	var status string
	if len(res) > 0 {
		status, _ = res[0].(string)
	}
	switch status {
	case "ok":
		return res, nil
	case "unknown":
		return nil, ErrUnknownSession
	case "closed":
		if len(res) == 2 {
			return nil, &ClosedError{Reason: str(res[1])}
		}
	case "conflict":
		return nil, ErrConflict
	case "full":
		return nil, ErrSessionFull
	}
	return nil, fmt.Errorf("router: redis: unexpected script reply %v", res)
}

// redisErr turns a failed Redis call into the bus's errors: the caller's
// ctx ending is ctx.Err(); Redis out of memory is ErrBusFull; anything else
// (refused connection, timeout, failover) is "router: redis: ...", which
// the Service reports as Unavailable, so clients retry. The cause is
// formatted, not wrapped: a network timeout satisfies errors.Is(err,
// context.DeadlineExceeded) and must not pass for the caller's deadline.
func redisErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if strings.Contains(err.Error(), "OOM command not allowed") {
		return fmt.Errorf("%w (redis is out of memory)", ErrBusFull)
	}
	return fmt.Errorf("router: redis: %v", err)
}

func (b *RedisBus) Open(ctx context.Context, s SessionInfo) error {
	parties, err := json.Marshal(s.Parties)
	if err != nil {
		return err
	}
	_, err = b.run(ctx, redisOpen, s.ID, parties, s.Expires.UnixMilli(), s.MaxBytes, s.MaxEnvelopes)
	return err
}

// Info returns the session's info, its Expires to the millisecond.
func (b *RedisBus) Info(ctx context.Context, session string) (SessionInfo, error) {
	res, err := b.run(ctx, redisInfo, session)
	if err != nil {
		return SessionInfo{}, err
	}
	if len(res) != 5 {
		return SessionInfo{}, fmt.Errorf("router: redis: unexpected info reply %v", res)
	}
	info := SessionInfo{ID: session}
	var exp, maxEnvs int64
	err = errors.Join(
		json.Unmarshal([]byte(str(res[1])), &info.Parties),
		parseInt(str(res[2]), &exp),
		parseInt(str(res[3]), &info.MaxBytes),
		parseInt(str(res[4]), &maxEnvs),
	)
	if err != nil {
		return SessionInfo{}, fmt.Errorf("router: redis: session info: %v", err)
	}
	info.Expires = time.UnixMilli(exp)
	info.MaxEnvelopes = int(maxEnvs)
	return info, nil
}

func (b *RedisBus) Append(ctx context.Context, session string, e Entry) (uint64, error) {
	sum := sha256.Sum256(e.Data)
	res, err := b.run(ctx, redisAppend, session, e.From, e.To, strconv.FormatUint(e.SenderSeq, 10), e.Data, sum[:])
	if err != nil {
		return 0, err
	}
	var seq int64
	if len(res) == 2 {
		seq, _ = res[1].(int64)
	}
	if seq < 1 {
		return 0, fmt.Errorf("router: redis: unexpected append reply %v", res)
	}
	return uint64(seq), nil
}

// Read returns entries after after, else waits in XREAD BLOCK, at most
// redisBlock at a time and never past the session's expiry, so that a
// reader wakes for an append or a close made through any replica, and for
// its session's expiry. A max below 1 reads 1.
func (b *RedisBus) Read(ctx context.Context, session string, after uint64, limit int) ([]Entry, error) {
	limit = max(limit, 1)
	first := closeMarkerID // nothing comes after the last possible seq
	if after < math.MaxUint64 {
		first = "0-" + strconv.FormatUint(after+1, 10)
	}
	stream := b.keys(session)[1]
	for {
		res, err := b.run(ctx, redisRead, session, first, limit)
		if err != nil {
			return nil, err
		}
		if len(res) != 3 {
			return nil, fmt.Errorf("router: redis: unexpected read reply %v", res)
		}
		left, _ := res[1].(int64)
		raw, _ := res[2].([]any)
		if len(raw) > 0 {
			entries := make([]Entry, 0, len(raw))
			for _, r := range raw {
				m, _ := r.([]any)
				if len(m) != 2 {
					return nil, fmt.Errorf("router: redis: unexpected stream entry %v", r)
				}
				fields, _ := m[1].([]any)
				values := make(map[string]any, len(fields)/2)
				for i := 0; i+1 < len(fields); i += 2 {
					values[str(fields[i])] = fields[i+1]
				}
				e, _, err := parseEntry(redis.XMessage{ID: str(m[0]), Values: values})
				if err != nil {
					return nil, err
				}
				entries = append(entries, e)
			}
			return entries, nil
		}
		block := min(max(time.Duration(left)*time.Millisecond+time.Millisecond, time.Millisecond), redisBlock)
		msgs, err := b.xread(ctx, stream, after, limit, block)
		if err != nil {
			return nil, err
		}
		var entries []Entry
		for _, m := range msgs {
			e, closed, err := parseEntry(m)
			if err != nil {
				return nil, err
			}
			if closed != nil {
				if len(entries) > 0 {
					break
				}
				return nil, closed
			}
			entries = append(entries, e)
		}
		if len(entries) > 0 {
			return entries, nil
		}
		// Timed out: look again (the session may have expired).
	}
}

// xread waits up to block for entries of stream after after. The
// XREAD runs in its own goroutine because go-redis does not give up a
// blocked read when ctx is cancelled; Read returns at once and the XREAD
// ends on its own within block, its reply dropped (it consumes nothing).
func (b *RedisBus) xread(ctx context.Context, stream string, after uint64, limit int, block time.Duration) ([]redis.XMessage, error) {
	type result struct {
		streams []redis.XStream
		err     error
	}
	done := make(chan result, 1)
	go func() {
		s, err := b.reads.XRead(ctx, &redis.XReadArgs{
			Streams: []string{stream, "0-" + strconv.FormatUint(after, 10)},
			Count:   int64(limit),
			Block:   block,
		}).Result()
		done <- result{s, err}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-done:
		if errors.Is(r.err, redis.Nil) {
			return nil, nil
		}
		if r.err != nil {
			return nil, redisErr(ctx, r.err)
		}
		var msgs []redis.XMessage
		for _, s := range r.streams {
			msgs = append(msgs, s.Messages...)
		}
		return msgs, nil
	}
}

func (b *RedisBus) Close(ctx context.Context, session, reason string) error {
	_, err := b.run(ctx, redisClose, session, reason)
	return err
}

// parseEntry reads a stream entry: an envelope, or the close marker (then
// closed is set).
func parseEntry(m redis.XMessage) (e Entry, closed *ClosedError, err error) {
	if reason, ok := m.Values["closed"]; ok {
		return Entry{}, &ClosedError{Reason: str(reason)}, nil
	}
	seq, ok := strings.CutPrefix(m.ID, "0-")
	if !ok {
		return Entry{}, nil, fmt.Errorf("router: redis: unexpected stream id %q", m.ID)
	}
	if e.Seq, err = strconv.ParseUint(seq, 10, 64); err != nil {
		return Entry{}, nil, fmt.Errorf("router: redis: stream id %q: %v", m.ID, err)
	}
	if e.SenderSeq, err = strconv.ParseUint(str(m.Values["s"]), 10, 64); err != nil {
		return Entry{}, nil, fmt.Errorf("router: redis: entry %q sender_seq: %v", m.ID, err)
	}
	e.From, e.To, e.Data = str(m.Values["f"]), str(m.Values["t"]), []byte(str(m.Values["d"]))
	return e, nil, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func parseInt(s string, v *int64) (err error) {
	*v, err = strconv.ParseInt(s, 10, 64)
	return err
}
