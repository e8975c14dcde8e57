# shellcheck shell=bash
HEAT_PACKAGES="heat-api heat-engine"
