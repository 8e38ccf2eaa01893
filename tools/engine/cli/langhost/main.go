// Command pulumi-language-python is a minimal Python language host for this project's engine tier.
//
// Why our own: the upstream host is its own module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3, pseudo-versions only) and the
// Go module proxy refuses every version of it ("This module version is not available"), so it cannot
// be built from modules. This host does only what `pulumi preview/up/destroy --policy-pack` need,
// with the sdk/v3 building blocks the upstream host uses itself (python/toolchain for the
// virtualenv, rpcutil for serving and plugin streams, sdk.PolicyProxy for policy packs):
//   - Run: launch pulumi-language-python-exec (shipped in the sdk/v3 module, installed beside this
//     binary) with the engine's arguments and PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS;
//   - RunPlugin (analyzer): run a Python policy pack as `python -u -m pulumi.policy <args> <dir>`;
//   - Handshake, GetPluginInfo, GetRequiredPackages (none: plugins come from PATH here).
//
// Everything else answers Unimplemented, which the CLI treats as "not supported".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// version is stamped by tools/engine/build (-X main.version=...): the CLI version it ships with.
var version = "0.0.0-dev"

const (
	executorName = "pulumi-language-python-exec"
	// The exit code the Python executor uses after printing a user-actionable message itself.
	exitAfterUserMessage = 32
)

func main() {
	flag.String("tracing", "", "accepted for compatibility; tracing is not supported")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}

	self, err := os.Executable()
	if err != nil {
		fail(fmt.Errorf("could not determine this executable: %w", err))
	}
	executor := filepath.Join(filepath.Dir(self), executorName)
	if _, err := os.Stat(executor); err != nil {
		fail(fmt.Errorf("missing executor %s: %w", executor, err))
	}

	host := &languageHost{executor: executor}
	if args := flag.Args(); len(args) > 0 {
		host.engineAddress = args[0]
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cancel := make(chan bool)
	go func() { <-ctx.Done(); close(cancel) }()
	if host.engineAddress != "" {
		// Exit when the engine goes away.
		if err := rpcutil.Healthcheck(ctx, host.engineAddress, 5*time.Minute, stop); err != nil {
			fail(fmt.Errorf("could not start the engine health check: %w", err))
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fail(fmt.Errorf("could not start the language host server: %w", err))
	}
	// The spawner reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fail(fmt.Errorf("language host stopped serving: %w", err))
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
	os.Exit(1)
}

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	executor      string
	engineAddress string
}

// toolchainFor resolves the Python toolchain from the project's runtime options (virtualenv, toolchain).
func toolchainFor(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts := toolchain.PythonOptions{Root: info.GetRootDirectory(), ProgramDir: info.GetProgramDirectory()}
	options := info.GetOptions().AsMap()
	if venv, ok := options["virtualenv"].(string); ok {
		opts.Virtualenv = venv
	}
	switch options["toolchain"] {
	case nil, "pip":
		opts.Toolchain = toolchain.Pip
	default:
		return nil, fmt.Errorf("toolchain %v is not supported by this language host (only pip)", options["toolchain"])
	}
	return toolchain.ResolveToolchain(opts)
}

func (h *languageHost) Handshake(
	ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// GetRequiredPackages reports none: the providers are the binaries tools/engine/build puts on PATH,
// and automatic plugin acquisition is off.
func (h *languageHost) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *languageHost) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

// runArguments are the executor's command line, in the order the SDK's executor parses them.
func (h *languageHost) runArguments(req *pulumirpc.RunRequest) []string {
	var args []string
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engineAddress)
	add("project", req.GetProject())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("organization", req.GetOrganization())
	args = append(args, req.GetInfo().GetEntryPoint())
	return append(args, req.GetArgs()...)
}

func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := toolchainFor(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	var env []string
	if req.GetConfig() != nil {
		config, err := json.Marshal(req.GetConfig())
		if err != nil {
			return nil, fmt.Errorf("serializing configuration: %w", err)
		}
		env = append(env, "PULUMI_CONFIG="+string(config))
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("serializing configuration secret keys: %w", err)
	}

	cmd, err := tc.Command(ctx, append([]string{h.executor}, h.runArguments(req)...)...)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(append(cmd.Env, env...), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON))
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return nil, fmt.Errorf("could not run the Python executor: %w", err)
		}
		if exitErr.ExitCode() == exitAfterUserMessage {
			return &pulumirpc.RunResponse{Bail: true}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d",
			exitErr.ExitCode())}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// RunPlugin runs a Python policy pack (kind analyzer), the only kind of Python plugin this project has.
func (h *languageHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	if req.GetKind() != string(apitype.AnalyzerPlugin) {
		return fmt.Errorf("plugin kind %q is not supported by this language host (only policy packs)", req.GetKind())
	}
	ctx := server.Context()
	tc, err := toolchainFor(req.GetInfo())
	if err != nil {
		return err
	}
	args := append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...)
	cmd, err := tc.Command(ctx, append(args, req.GetInfo().GetProgramDirectory())...)
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	// Policy packs run in their own directory, and read the stack's configuration from the
	// environment, which the proxy learns from the engine before the pack starts.
	cmd.Dir = req.GetInfo().GetProgramDirectory()
	proxy, stdout, err := sdk.NewPolicyProxy(ctx, stdout)
	if err != nil {
		return fmt.Errorf("could not start the policy pack proxy: %w", err)
	}
	config, err := proxy.AwaitConfiguration(ctx)
	if err != nil {
		return fmt.Errorf("could not get the stack configuration: %w", err)
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	if config != nil {
		setEnv := func(k, v string) {
			if v != "" {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
		}
		setEnv("PULUMI_ORGANIZATION", config.GetOrganization())
		setEnv("PULUMI_PROJECT", config.GetProject())
		setEnv("PULUMI_STACK", config.GetStack())
		setEnv("PULUMI_DRY_RUN", strconv.FormatBool(config.GetDryRun()))
		if config.GetConfig() != nil {
			configJSON, err := json.Marshal(config.GetConfig())
			if err != nil {
				return fmt.Errorf("serializing the stack configuration: %w", err)
			}
			setEnv("PULUMI_CONFIG", string(configJSON))
		}
	}
	cmd.Env = append(cmd.Env, req.GetEnv()...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("could not start the policy pack: %w", err)
	}
	if err := proxy.Attach(ctx, cmd); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok {
				return server.Send(&pulumirpc.RunPluginResponse{
					Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(status.ExitStatus())},
				})
			}
		}
		return fmt.Errorf("could not attach the policy pack proxy: %w", err)
	}
	return closer.Close()
}
