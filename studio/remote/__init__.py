"""The client side of an engine on another machine: `studio serve`'s job API
over HTTP (studio/server/jobs_api.py). Plain Python, no Qt, so the CLI
(`studio generate --server`) and the window's remote engine share it."""

# Where `studio generate` finds the server and its token when no option names them.
SERVER_ENV = "STUDIO_SERVER"
TOKEN_ENV = "STUDIO_API_TOKEN"  # the variable `studio serve` reads its token from
