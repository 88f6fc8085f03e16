"""Report writers. Each renders from the one RunResult model; none gathers anything."""
