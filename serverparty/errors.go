package serverparty

import (
	"errors"

	"github.com/rwadurian/tsskit/participant"
)

func asSessionError(err error, target **participant.SessionError) bool { return errors.As(err, target) }
