"""Editor side: jobs and their store, OTIO timelines, the Resolve bridge, the worker and the CLI."""
