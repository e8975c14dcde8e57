module fleeting-openstack/conformance

go 1.26.0

// go-plugin v1.6.2 (the release older gitlab-runners pin) for the whole
// conformance module, fleeting's client included: fleeting requires v1.8.0, so
// without the replace below MVS would select v1.8.0 and this modfile would
// test nothing different from go.mod. Keep the rest in step with go.mod.
replace github.com/hashicorp/go-plugin => github.com/hashicorp/go-plugin v1.6.2

// fleeting's own Go module, pinned to the only version the Go module proxy
// serves (every other version, @latest and the version list answer 403; see
// docs/testing.md). Its client (RunPlugin, Init/Provisioner), plugin.Main and
// integration.TestProvisioning drive the plugin exactly as gitlab-runner does.
// It requires go-plugin v1.8.0; the go.goplugin-v*.mod modfiles replace
// go-plugin with the older releases so that the same tests also run with the
// go-plugin client older runners ship.
require gitlab.com/gitlab-org/fleeting/fleeting v0.0.0-20260630131728-ef4ba33c8ab8

require (
	github.com/hashicorp/go-hclog v1.6.3
	github.com/hashicorp/go-plugin v1.8.0
	golang.org/x/crypto v0.59.0
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/fatih/color v1.18.0 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/hashicorp/yamux v0.1.2 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/oklog/run v1.2.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
)
