package main

import "errors"

// errSilent ends a command with an exit code and nothing more to say (the
// command printed its answer already).
var errSilent = errors.New("")

// usageError marks a mistake in how a command was called: exit code 2.
func usageError(err error) error { return &exitError{code: 2, err: err} }
