package vault

import "errors"

// Sentinels for errors.Is. Every error this package returns is an *Error
// whose Kind is one of them.
var (
	// ErrNoMasterKey: CRYPTO_MASTER_KEY is empty.
	ErrNoMasterKey = errors.New("CRYPTO_MASTER_KEY is not set")
	// ErrBadMasterKey: CRYPTO_MASTER_KEY is not 64 hex characters.
	ErrBadMasterKey = errors.New("CRYPTO_MASTER_KEY is malformed")
	// ErrInvalid: an argument is unusable (a record that fails validation,
	// a wallet or party id that no share can have, a nil key).
	ErrInvalid = errors.New("vault: invalid argument")
	// ErrNotFound: no share is stored for that wallet and party, or no
	// pending share of the epoch ActivateShare was asked for.
	ErrNotFound = errors.New("vault: not found")
	// ErrExists: a share for that wallet and party is already stored;
	// PutShare never replaces one (only ActivateShare does).
	ErrExists = errors.New("vault: already exists")
	// ErrStaleEpoch: a pending share whose epoch is not above the active
	// share's, or an activation of an epoch below the active share's.
	ErrStaleEpoch = errors.New("vault: epoch not above the active share's")

	// ErrFrozen: the pending share is of a run an operator froze or
	// dropped (tsskit settle); it is not activated.
	ErrFrozen = errors.New("vault: run frozen by an operator")

	// ErrActivated: the run's share is this party's active share already.
	ErrActivated = errors.New("vault: run activated here")
	// ErrWrongKey: the record is encrypted under another master key; see
	// Error.FileKeyID and Error.VaultKeyID.
	ErrWrongKey = errors.New("vault: encrypted under another master key")
	// ErrCorrupt: the record (a file, or a row's) does not parse, fails
	// authentication (tampered, or moved from another wallet, party or
	// entry), or its plaintext does not decode.
	ErrCorrupt = errors.New("vault: corrupt file")
	// ErrEmpty: the pre-parameters pool has no entry.
	ErrEmpty = errors.New("vault: no pre-parameters in the pool")
	// ErrIO: the file system or the database failed.
	ErrIO = errors.New("vault: i/o error")
)

// Error is the error type of this package. Messages never contain key
// bytes, plaintext or a database password.
type Error struct {
	// Kind is one of the sentinels above.
	Kind error
	// Path is the file or table row concerned, if any, or the database
	// (never with a password).
	Path string
	// FileKeyID and VaultKeyID are set with ErrWrongKey: the key id the
	// record was written under and the id of the key in use.
	FileKeyID, VaultKeyID string
	// Msg says what was wrong or expected.
	Msg string
	// Err is the cause, if any; never one that could quote a secret.
	Err error
}

func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Path != "" {
		s += ": " + e.Path
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is e's Kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func newErr(kind error, path, msg string, cause error) *Error {
	return &Error{Kind: kind, Path: path, Msg: msg, Err: cause}
}

func corrupt(path, msg string) *Error { return newErr(ErrCorrupt, path, msg, nil) }

func ioErr(path string, err error) *Error { return newErr(ErrIO, path, "", err) }

func wrongKey(path, fileKeyID, vaultKeyID string) *Error {
	return &Error{
		Kind:       ErrWrongKey,
		Path:       path,
		FileKeyID:  fileKeyID,
		VaultKeyID: vaultKeyID,
		Msg:        "written under key id " + fileKeyID + ", but the key in use has id " + vaultKeyID + " (wrong CRYPTO_MASTER_KEY, or an interrupted rotate-key: run it again)",
	}
}
