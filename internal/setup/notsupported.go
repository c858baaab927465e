package setup

import (
	"errors"

	"golang.org/x/sys/unix"
)

// isNotSupported reports the kernel's answer to a link kind it lacks.
func isNotSupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP)
}
