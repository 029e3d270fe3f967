//go:build nodev

package main

// embeddedCommands is empty without the embedded Temporal server.
var embeddedCommands []command
