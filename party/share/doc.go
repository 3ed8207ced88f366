// Package share encodes and decodes key share records: one party's share of
// one wallet key, self-describing enough to be used later without outside
// context. A record is secret (it holds the party's key share and Paillier
// key); this package does not encrypt, callers seal the encoding.
//
// Protect and Unprotect are the one exception: they seal a record under a
// password in the backup format "tsskit.share.backup" (PBKDF2-HMAC-SHA256 and
// AES-256-GCM as Web Crypto does them; see BackupFormat). Their password
// errors, ErrWrongPassword and ErrEmptyPassword, are not *Error values.
//
// # Format
//
// A record is a single JSON object of at most MaxRecordSize bytes with
// exactly these keys:
//
//	{
//	  "format":     "tsskit.share",   // Format: tells a record from any other JSON
//	  "version":    2,                // Version
//	  "wallet_id":  "<uuid>",
//	  "party_id":   "server-1",       // owner of this share
//	  "threshold":  2,                // signers needed (tss-lib's threshold + 1)
//	  "parties":    ["…", "…", "…"],  // keygen roster in roster.Key order
//	  "public_key": "02…",            // wallet key, compressed SEC1, hex
//	  "epoch":      0,                // reshares so far (0: keygen's shares)
//	  "holders":    [                 // one per party, in the order of parties
//	    {"party_id": "…", "kind": "client", "identity_key": "<64 hex>"}, …
//	  ],
//	  "policy":     {"client_required": true},
//	  "identity":   "<64 hex>",       // own device identity key (client, user); "" for a server
//	  "save_data":  {…}               // tss-lib's JSON of keygen.LocalPartySaveData
//	}
//
// holders records, for every party, the kind (server, client or user) and
// the identity public key it joined the keygen with (package identity);
// every party checks these at signing. policy.client_required says the
// wallet signs only with one of its client holders taking part (a
// co-managed wallet). identity is the party's own device identity private
// key for client and user holders, so that a backup carries it; server
// parties keep theirs in their vault.
//
// Version 1 had neither epoch, holders, policy nor identity. A version 1
// record decodes to a Record with epoch 0, no holders, no policy and no
// identity key (Record.Legacy) and encodes as version 2 with "holders": []
// and "identity": "".
//
// Top-level keys are matched exactly: a missing, unknown or duplicate key, a
// null value and any data after the object make the record malformed.
// save_data is decoded by encoding/json into tss-lib's types with unknown
// fields rejected.
//
// # Versions
//
// Decode reads "format" and "version" first and then hands the record to the
// decoder of that version. The rules for changing the format:
//   - Encode writes only the current Version.
//   - Any change to the keys or their meaning gets the next version number
//     and its own decoder. v1 readers reject unknown keys, so even an
//     "optional" addition needs a new version.
//   - Decoders of older versions stay and return a current Record, migrating
//     in memory; the stored record is upgraded when it is next encoded.
//   - A version Decode does not know — newer than Version, or below 1 — is
//     refused with ErrUnsupportedVersion and Error.Version set, never guessed.
//
// # Checks
//
// Decode and Encode both run Record.Validate, so whatever one accepts the
// other accepts too. A valid record has:
//   - a wallet_id and a party_id of 1..128 bytes of printable, non-space
//     characters;
//   - parties accepted by roster.New (2..16 unique ids), already in the
//     order of roster.KeyAt(id, epoch), and containing party_id;
//   - 2 <= threshold <= len(parties);
//   - a public_key of 33 bytes, compressed SEC1, on secp256k1;
//   - save_data with one entry per party in Ks, NTildej, H1j, H2j, BigXj and
//     PaillierPKs, none missing, Ks[j] == roster.KeyAt(parties[j], epoch)
//     (tss-lib orders parties by key too) and ShareID the key of party_id;
//     a reshare gives the shares of each epoch their own keys, so a party
//     in both committees runs as two tss-lib parties;
//   - complete pre-parameters (a superset of tss-lib's
//     LocalPreParams.ValidateWithProof): the Paillier key's N, PhiN and
//     LambdaN derived from its P and Q, NTildei equal to (2P+1)(2Q+1), and
//     the party's own entries of PaillierPKs, NTildej, H1j and H2j equal to
//     its own pre-parameters;
//   - holders either empty (a migrated version 1 record, which may neither
//     require a client nor carry an identity key) or one per party in the
//     order of parties, each of kind server, client or user with its own
//     identity key; client_required only with a client holder; a client or
//     user holder's own identity key whose public half is its holder
//     entry's, and none in a server's record; 0 <= epoch < 2^31;
//   - 0 < Xi < n (the secp256k1 group order) and Xi·G == BigXj[own index];
//   - every BigXj and ECDSAPub a secp256k1 point in canonical coordinates,
//     ECDSAPub equal to public_key, and the BigXj the evaluations at Ks of
//     one polynomial of degree threshold-1 whose value at 0 is ECDSAPub:
//     any threshold of these shares sign for public_key.
//
// tss-lib's own point decoding is not enough for the point checks: it takes
// the curve named in the JSON, and its secp256k1 curve check ignores a
// coordinate's sign and reads no more than 32 bytes of it, so it accepts
// points on other curves and non-canonical encodings of a point.
//
// # Errors
//
// Every error is an *Error whose Code says why (malformed, truncated, too
// large, unsupported version, inconsistent) and whose Field names the
// offending value; errors.Is matches it against ErrMalformed, ErrTruncated,
// ErrTooLarge, ErrUnsupportedVersion and ErrInconsistent. Messages say what
// was expected and never contain secret values.
package share
