package party

import (
	"bytes"
	"errors"
	"testing"

	"github.com/rwadurian/tsskit/party/identity"
	"github.com/rwadurian/tsskit/party/share"
)

// One acknowledged run per epoch, attacked from the coordinator's seat:
// it relays every word of the new run's joins and can drop, replay or
// make up any of them, but cannot sign a holder's statement. A holder of
// an earlier run's pending share goes on only on another holder's valid
// abandoned-run statement for exactly that run.
func TestAttackEarlierRun(t *testing.T) {
	ids := []string{"client-1", "server-1", "server-2"}
	keys := map[string]*identity.Key{}
	rec := &share.Record{WalletID: "w", Epoch: 3, PublicKey: append([]byte{2}, bytes.Repeat([]byte{9}, 32)...)}
	for _, id := range ids {
		k, err := identity.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = k
		rec.Holders = append(rec.Holders, share.Holder{PartyID: id, Identity: k.Public()})
	}
	stranger, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	const self, earlier, now = "server-1", "rs-earlier", "rs-now"
	abandon := func(k *identity.Key, session, wallet, partyID string, epoch int) map[string]RunWords {
		return map[string]RunWords{partyID: {Abandoned: [][]byte{identity.SignAbandoned(k, session, wallet, partyID, epoch)}}}
	}
	stored := func(forge string) map[string]RunWords {
		w := map[string]RunWords{}
		for _, id := range ids {
			k := keys[id]
			if id == forge {
				k = stranger
			}
			w[id] = RunWords{Stored: map[string][]byte{earlier: identity.SignStored(k, earlier, "w", id, 3, rec.PublicKey)}}
		}
		return w
	}
	check := func(words map[string]RunWords) error {
		return CheckEarlierRun(now, self, 3, rec, earlier, words)
	}

	// Nothing to check: no pending share, one of another epoch, one from
	// this very session, one naming no session.
	for name, err := range map[string]error{
		"no pending share": CheckEarlierRun(now, self, 3, nil, earlier, nil),
		"another epoch":    CheckEarlierRun(now, self, 4, rec, earlier, nil),
		"this session":     CheckEarlierRun(earlier, self, 3, rec, earlier, nil),
		"no session named": CheckEarlierRun(now, self, 3, rec, "", nil),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Another holder of the earlier run abandoned it: go on.
	if err := check(abandon(keys["client-1"], earlier, "w", "client-1", 3)); err != nil {
		t.Fatalf("a valid statement: %v", err)
	}
	// Every forgery and replay the coordinator can make is refused as
	// not abandoned.
	for name, words := range map[string]map[string]RunWords{
		"no statement":            nil,
		"by a stranger's key":     abandon(stranger, earlier, "w", "client-1", 3),
		"by another holder's key": abandon(keys["server-2"], earlier, "w", "client-1", 3),
		"this party's own":        abandon(keys[self], earlier, "w", self, 3),
		"of another run":          abandon(keys["client-1"], "rs-other", "w", "client-1", 3),
		"of another wallet":       abandon(keys["client-1"], earlier, "w2", "client-1", 3),
		"of another epoch":        abandon(keys["client-1"], earlier, "w", "client-1", 2),
		"of a party not a holder": abandon(stranger, earlier, "w", "server-9", 3),
		"one stored ack forged":   stored("server-2"),
		"garbage":                 {"client-1": {Abandoned: [][]byte{{1, 2, 3}}}},
	} {
		var pe *Error
		if err := check(words); !errors.As(err, &pe) || pe.Code != CodeRunNotAbandoned {
			t.Errorf("%s: %v; want %s", name, err, CodeRunNotAbandoned)
		}
	}
	// Every other holder stored it: the run is complete, to be activated
	// rather than run again.
	var pe *Error
	if err := check(stored("")); !errors.As(err, &pe) || pe.Code != CodeRunComplete {
		t.Fatalf("every holder stored: %v; want %s", err, CodeRunComplete)
	}
	// A statement beats acknowledgements: a holder that abandoned it never
	// stores it, so the run cannot be activated whatever the others say.
	words := stored("")
	words["client-1"] = abandon(keys["client-1"], earlier, "w", "client-1", 3)["client-1"]
	if err := check(words); err != nil {
		t.Fatalf("stored acks beside a valid statement: %v", err)
	}
}

// Settling a run in limbo, attacked: a holder drops its share of the run
// only on a valid frozen-run statement of every other holder that is not
// named silent, for exactly that run; the silent holders must be too few
// to sign with the run's shares, and the holders that keep the active
// epoch's share (this one, and those whose statements say they hold it)
// enough to sign with it. A holder with no active share drops only after
// one that has (its abandoned-run statement); a frozen run is thawed only
// on every other server holder's activated-run or pinned-run statement.
func TestAttackCheckSettle(t *testing.T) {
	ids := []string{"client-1", "server-1", "server-2"}
	keys := map[string]*identity.Key{}
	active := &share.Record{WalletID: "w", PartyID: "server-1", Epoch: 3, Threshold: 2, PublicKey: []byte{2, 7}}
	for _, id := range ids {
		k, err := identity.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = k
		kind := identity.KindServer
		if id == "client-1" {
			kind = identity.KindClient
		}
		active.Holders = append(active.Holders, share.Holder{PartyID: id, Kind: kind, Identity: k.Public()})
	}
	pending := *active
	pending.Epoch = 4
	const run = "session-s"
	stranger, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	frozenBy := func(k *identity.Key, party, session string, epoch int, held bool) []byte {
		return identity.SignFrozen(k, session, "w", party, epoch, held)
	}
	good := frozenBy(keys["server-2"], "server-2", run, 4, true)
	holdsNone := frozenBy(keys["server-2"], "server-2", run, 4, false)
	droppedBy2 := identity.SignAbandoned(keys["server-2"], run, "w", "server-2", 4)
	other := pending
	other.Holders = active.Holders[1:]
	four := pending
	four.Holders = append(append([]share.Holder{}, pending.Holders...), share.Holder{PartyID: "server-3", Kind: identity.KindServer, Identity: stranger.Public()})
	newOnly := four
	newOnly.PartyID = "server-3"
	recovery := pending
	recovery.Holders = append([]share.Holder{{PartyID: "client-2", Kind: identity.KindClient, Identity: stranger.Public()}}, pending.Holders[1:]...)
	active3, all3 := *active, pending
	active3.Threshold, all3.Threshold = 3, 3
	older, otherKey := *active, *active
	older.Epoch, otherKey.PublicKey = 2, []byte{3, 7}
	silentClient := []string{"client-1"}
	for name, c := range map[string]struct {
		pending, active *share.Record
		silent          []string
		frozen, dropped [][]byte
		ok              bool
	}{
		"every other holder froze it":                         {&pending, active, nil, [][]byte{good, frozenBy(keys["client-1"], "client-1", run, 4, true)}, nil, true},
		"the silent client, the other server froze":           {&pending, active, silentClient, [][]byte{good}, nil, true},
		"the other server holds no active share":              {&pending, active, silentClient, [][]byte{holdsNone}, nil, false},
		"no statement":                                        {&pending, active, silentClient, nil, nil, false},
		"a stranger's key":                                    {&pending, active, silentClient, [][]byte{frozenBy(stranger, "server-2", run, 4, true)}, nil, false},
		"another holder's key":                                {&pending, active, silentClient, [][]byte{frozenBy(keys["client-1"], "server-2", run, 4, true)}, nil, false},
		"another run":                                         {&pending, active, silentClient, [][]byte{frozenBy(keys["server-2"], "server-2", "session-t", 4, true)}, nil, false},
		"another epoch":                                       {&pending, active, silentClient, [][]byte{frozenBy(keys["server-2"], "server-2", run, 5, true)}, nil, false},
		"an abandoned-run statement":                          {&pending, active, silentClient, [][]byte{droppedBy2}, nil, false},
		"garbage":                                             {&pending, active, silentClient, [][]byte{{1, 2, 3}}, nil, false},
		"as many silent as signers":                           {&pending, active, []string{"client-1", "server-2"}, nil, nil, false},
		"itself silent":                                       {&pending, active, []string{"server-1"}, [][]byte{good}, nil, false},
		"a silent stranger":                                   {&pending, active, []string{"server-9"}, [][]byte{good}, nil, false},
		"a silent holder twice":                               {&pending, active, []string{"client-1", "client-1"}, [][]byte{good}, nil, false},
		"an active share of the run's epoch":                  {&pending, &pending, silentClient, [][]byte{good}, nil, false},
		"an active share two epochs back":                     {&pending, &older, silentClient, [][]byte{good}, nil, false},
		"an active share of another key":                      {&pending, &otherKey, silentClient, [][]byte{good}, nil, false},
		"a run that drops an active holder, two keep it":      {&other, active, nil, [][]byte{good}, nil, true},
		"a run that drops one, another silent":                {&other, active, []string{"server-2"}, nil, nil, false},
		"a recovery: new client silent":                       {&recovery, active, []string{"client-2"}, [][]byte{good}, nil, true},
		"a run that adds a holder":                            {&four, active, silentClient, [][]byte{good, frozenBy(stranger, "server-3", run, 4, false)}, nil, true},
		"too few others to sign with the active epoch":        {&all3, &active3, silentClient, [][]byte{good}, nil, false},
		"the new holder, after a holder of the epoch dropped": {&newOnly, nil, silentClient, [][]byte{good, frozenBy(keys["server-1"], "server-1", run, 4, false)}, [][]byte{droppedBy2}, true},
		"the new holder, before anyone dropped":               {&newOnly, nil, silentClient, [][]byte{good, frozenBy(keys["server-1"], "server-1", run, 4, false)}, nil, false},
		"the new holder, after one holding no share dropped":  {&newOnly, nil, silentClient, [][]byte{holdsNone, frozenBy(keys["server-1"], "server-1", run, 4, true)}, [][]byte{droppedBy2}, false},
		"the new holder, a forged drop":                       {&newOnly, nil, silentClient, [][]byte{good, frozenBy(keys["server-1"], "server-1", run, 4, false)}, [][]byte{identity.SignAbandoned(stranger, run, "w", "server-2", 4)}, false},
	} {
		t.Run(name, func(t *testing.T) {
			wantSettle(t, CheckSettle(c.pending, c.active, run, c.silent, c.frozen, c.dropped), c.ok)
		})
	}

	// Thawing server-1's frozen run: every other holder not named silent
	// (the client here, unless it gives its word too) pinned it or holds
	// it active.
	pinnedBy2 := identity.SignPinned(keys["server-2"], run, "w", "server-2", 4)
	pinnedByClient := identity.SignPinned(keys["client-1"], run, "w", "client-1", 4)
	client := []string{"client-1"}
	for name, c := range map[string]struct {
		pending *share.Record
		silent  []string
		words   [][]byte
		ok      bool
	}{
		"the other server activated it":            {&pending, client, [][]byte{identity.SignActivated(keys["server-2"], run, "w", "server-2", 4)}, true},
		"the other server pinned it":               {&pending, client, [][]byte{pinnedBy2}, true},
		"the client not silent, and no word of it": {&pending, nil, [][]byte{pinnedBy2}, false},
		"the client pinned it too":                 {&pending, nil, [][]byte{pinnedBy2, pinnedByClient}, true},
		"the client's word, the server's missing":  {&pending, nil, [][]byte{pinnedByClient}, false},
		"the server named silent instead":          {&pending, []string{"server-2"}, [][]byte{pinnedByClient}, true},
		"both others silent, too few left to sign": {&pending, []string{"server-2", "client-1"}, nil, false},
		"itself named silent":                      {&pending, []string{"server-1", "client-1"}, [][]byte{pinnedBy2}, false},
		"a stranger named silent":                  {&pending, []string{"client-1", "server-9"}, [][]byte{pinnedBy2}, false},
		"the client named twice":                   {&pending, []string{"client-1", "client-1"}, [][]byte{pinnedBy2}, false},
		"no word":                                  {&pending, client, nil, false},
		"the client says so for the server":        {&pending, client, [][]byte{identity.SignActivated(keys["client-1"], run, "w", "server-2", 4)}, false},
		"its own word":                             {&pending, client, [][]byte{identity.SignPinned(keys["server-1"], run, "w", "server-1", 4)}, false},
		"a stranger's key":                         {&pending, client, [][]byte{identity.SignPinned(stranger, run, "w", "server-2", 4)}, false},
		"another run":                              {&pending, client, [][]byte{identity.SignActivated(keys["server-2"], "session-t", "w", "server-2", 4)}, false},
		"a frozen-run statement":                   {&pending, client, [][]byte{good}, false},
		"an abandoned-run statement":               {&pending, client, [][]byte{droppedBy2}, false},
		"one of two other servers":                 {&four, client, [][]byte{pinnedBy2}, false},
		"both other servers, pinned and activated": {&four, client, [][]byte{pinnedBy2, identity.SignActivated(stranger, run, "w", "server-3", 4)}, true},
	} {
		t.Run("thaw: "+name, func(t *testing.T) {
			wantSettle(t, CheckThaw(c.pending, run, c.silent, c.words), c.ok)
		})
	}
}

// wantSettle wants err nil if ok, else a settle_refused.
func wantSettle(t *testing.T, err error, ok bool) {
	t.Helper()
	var pe *Error
	switch {
	case ok && err != nil:
		t.Fatalf("refused: %v", err)
	case !ok && (!errors.As(err, &pe) || pe.Code != CodeSettle):
		t.Fatalf("%v; want %s", err, CodeSettle)
	}
}
