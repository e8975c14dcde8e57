"""The command line: plugin mode when bare, one argparse tree, a module per command (shared pieces import none)."""
