package groupapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// The API's error codes (GROUP_API.md).
const (
	CodeInvalidParameters = 1000
	CodeGeneric           = 1009
	CodePermissionDenied  = 1015
	CodeInvalidData       = 1047
	CodeNameRequired      = 1501
	CodeGroupIDRequired   = 1502
	CodeGroupNotFound     = 1503
)

// APIError is every failed call: an error answer (Code, Message), an
// unexpected answer (HTTPStatus, Message), or no answer (Err). Text from
// the answer's body is stripped of the credentials and cut short: it ends
// up in status conditions and events.
type APIError struct {
	Op         Operation
	HTTPStatus int
	Code       int
	Message    string
	// RetryAfter is the wait a 429 asked for (capped), from when it came.
	RetryAfter time.Duration
	at         time.Time
	// Err is the transport error when there was no usable answer.
	Err error
}

func (e *APIError) Error() string {
	switch {
	case e.Err != nil:
		return fmt.Sprintf("group api %s: %v", e.Op, e.Err)
	case e.Code != 0:
		return fmt.Sprintf("group api %s: %s (code %d)", e.Op, e.Message, e.Code)
	case redirect(e.HTTPStatus):
		return fmt.Sprintf("group api %s: %s", e.Op, e.Message)
	}
	return fmt.Sprintf("group api %s: HTTP %d: %s", e.Op, e.HTTPStatus, e.Message)
}

func (e *APIError) Unwrap() error { return e.Err }

// Class is how a caller should react to an error.
type Class string

const (
	ClassSuccess   Class = "success"
	ClassNotFound  Class = "not_found"
	ClassTerminal  Class = "terminal"
	ClassRetryable Class = "retryable"
)

// Classify sorts an error: not found (1503); terminal (permission, invalid
// data or parameters, missing fields, refused credentials, a redirect):
// retrying the same call cannot help; everything else (network, timeouts,
// 5xx, 429, 1009, answers that are not the API's, unknown codes) is
// retryable.
func Classify(err error) Class {
	if err == nil {
		return ClassSuccess
	}
	var e *APIError
	if !errors.As(err, &e) {
		return ClassRetryable
	}
	switch e.Code {
	case CodeGroupNotFound:
		return ClassNotFound
	case CodeInvalidParameters, CodePermissionDenied, CodeInvalidData, CodeNameRequired, CodeGroupIDRequired:
		return ClassTerminal
	case 0:
		if e.Err == nil && (e.HTTPStatus == http.StatusUnauthorized || e.HTTPStatus == http.StatusForbidden || redirect(e.HTTPStatus)) {
			return ClassTerminal
		}
	}
	return ClassRetryable
}

// IsNotFound: the group does not exist or belongs to someone else (1503).
func IsNotFound(err error) bool { return Classify(err) == ClassNotFound }

// IsTerminal: the same call will fail again until something changes.
func IsTerminal(err error) bool { return Classify(err) == ClassTerminal }

// IsRetryable: the call may succeed later.
func IsRetryable(err error) bool { return Classify(err) == ClassRetryable }

// IsPermissionDenied: 1015, or HTTP 401/403 with no API code: the
// credentials or the account's permissions are wrong.
func IsPermissionDenied(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == CodePermissionDenied || (e.Code == 0 && e.Err == nil && (e.HTTPStatus == http.StatusUnauthorized || e.HTTPStatus == http.StatusForbidden))
}

// IsRedirect: the brand host answered with a 3xx, which the client never
// follows; baseURL names the wrong host.
func IsRedirect(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == 0 && e.Err == nil && redirect(e.HTTPStatus)
}

func redirect(httpStatus int) bool { return httpStatus >= 300 && httpStatus < 400 }
