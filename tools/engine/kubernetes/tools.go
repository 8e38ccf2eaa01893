//go:build tools

// Package tools pins the provider packages tools/engine/build compiles from this module. The main
// package itself embeds a schema the build generates, so the build compiles it from the module
// cache with -overlay (see tools/engine/build).
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)
