// Command refplugin is fleeting's own plugin.Main (the fleeting module go.mod
// pins) with the version facts taken from the environment (REF_NAME,
// REF_VERSION, REF_REVISION, REF_REFERENCE, REF_BUILT_AT): the reference the
// Python plugin's command line (version, bootstrap) is compared with in
// ../main_test.go. It serves no instance group.
package main

import (
	"os"

	"gitlab.com/gitlab-org/fleeting/fleeting/plugin"
)

func main() {
	plugin.Main(nil, plugin.VersionInfo{
		Name:      os.Getenv("REF_NAME"),
		Version:   os.Getenv("REF_VERSION"),
		Revision:  os.Getenv("REF_REVISION"),
		Reference: os.Getenv("REF_REFERENCE"),
		BuiltAt:   os.Getenv("REF_BUILT_AT"),
	})
}
