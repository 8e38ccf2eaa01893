//go:build tools

// Package tools pins the main packages tools/engine/build compiles from this module.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
