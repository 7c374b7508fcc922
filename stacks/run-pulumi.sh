#!/usr/bin/env bash
# Run the Pulumi CLI on the warm-site project: `make preview` / `make up` / `make site-file` call this.
#
#   stacks/run-pulumi.sh preview [STACK]      # what would change (default STACK: $STACK or dev)
#   stacks/run-pulumi.sh up [STACK]           # create/update the warm site (asks for confirmation)
#   (preview and up run the policy pack stacks/policy: a violated rule fails them)
#   stacks/run-pulumi.sh site-file [STACK]    # write the stack outputs to $SITE_FILE (default site.json)
#                                             # and validate them as a site file
# Extra arguments after STACK go to pulumi unchanged (e.g. --yes, --diff).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
action="${1:-}"
stack="${2:-${STACK:-dev}}"
shift $(( $# > 2 ? 2 : $# ))

case "$action" in
  preview|up|site-file) ;;
  *) echo "usage: $0 preview|up|site-file [STACK] [pulumi args...]" >&2; exit 2 ;;
esac

if ! command -v pulumi >/dev/null 2>&1; then
  cat >&2 <<'MSG'
run-pulumi.sh: the Pulumi CLI is not installed (CI validates the stacks with Pulumi's mocks and needs
no CLI: `make test`). To deploy for real, install it:
    curl -fsSL https://get.pulumi.com | sh        # or: brew install pulumi/tap/pulumi
then log in to a state backend (`pulumi login` or `pulumi login s3://BUCKET`), make sure AWS credentials
are available (AWS_PROFILE or the usual boto3 chain), and run `make install` for the project's .venv.
The AWS provider plugin is fetched by the CLI on first use. See stacks/README.md.
MSG
  exit 127
fi

python="$repo/.venv/bin/python"
[ -x "$python" ] || { echo "run-pulumi.sh: $python missing; run \`make install\` first" >&2; exit 2; }

case "$action" in
  preview) exec pulumi --cwd "$here" preview --stack "$stack" --policy-pack "$here/policy" "$@" ;;
  up)      exec pulumi --cwd "$here" up --stack "$stack" --policy-pack "$here/policy" "$@" ;;
  site-file)
    out="${SITE_FILE:-$repo/site.json}"
    pulumi --cwd "$here" stack output --stack "$stack" --json "$@" > "$out.tmp"
    "$python" -c 'import sys; from orchestrator.site import load_site; load_site(sys.argv[1])' "$out.tmp"
    mv "$out.tmp" "$out"
    echo "site file written: $out"
    ;;
esac
