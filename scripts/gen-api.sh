#!/usr/bin/env bash
# Regenerate src/api/ from proto/ with protoc (Debian protobuf-compiler,
# WKTs from libprotobuf-dev under /usr/include) and ts-proto.
#
# The output is generated into a temporary directory first; src/api is only
# replaced when generation succeeded, so a failed run leaves it untouched.
# Running it twice in a row produces identical files.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
repo_root="$(cd "${script_dir}/.." && pwd -P)"
proto_dir="${repo_root}/proto"
out_dir="${repo_root}/src/api"
plugin="${repo_root}/node_modules/.bin/protoc-gen-ts_proto"
wkt_include="${PROTOC_WKT_INCLUDE:-/usr/include}"

ts_proto_opts='outputServices=grpc-js,env=node,esModuleInterop=true,forceLong=bigint,useDate=false,useOptionals=messages,oneof=unions-value,importSuffix=.js'

die() {
  echo "gen-api: $*" >&2
  exit 1
}

# Guard: only ever wipe this repository's src/api.
[[ -f "${repo_root}/package.json" ]] || die "no package.json in ${repo_root}"
grep -q '"name": "berth"' "${repo_root}/package.json" || die "${repo_root} is not the berth repository"
[[ "${out_dir}" == "${repo_root}/src/api" ]] || die "refusing to write to ${out_dir}"
if [[ -e "${out_dir}" ]]; then
  [[ -d "${out_dir}" && ! -L "${out_dir}" ]] || die "${out_dir} is not a plain directory"
  [[ "$(cd "${out_dir}" && pwd -P)" == "${repo_root}/src/api" ]] || die "${out_dir} resolves elsewhere"
fi

command -v protoc >/dev/null || die 'protoc not found (apt-get install protobuf-compiler)'
[[ -f "${wkt_include}/google/protobuf/timestamp.proto" ]] ||
  die "well-known types not found under ${wkt_include} (apt-get install libprotobuf-dev)"
[[ -x "${plugin}" ]] || die "${plugin} not found (run npm install)"
[[ -d "${proto_dir}" ]] || die "${proto_dir} not found"

start_ns="$(date +%s%N)"

stage="$(mktemp -d "${TMPDIR:-/tmp}/berth-gen-api.XXXXXX")"
trap 'rm -rf -- "${stage}"' EXIT

mapfile -t protos < <(cd "${proto_dir}" && find . -name '*.proto' -type f | sed 's|^\./||' | LC_ALL=C sort)
[[ ${#protos[@]} -gt 0 ]] || die "no .proto files under ${proto_dir}"

(
  cd "${proto_dir}"
  protoc \
    --plugin="protoc-gen-ts_proto=${plugin}" \
    -I . -I "${wkt_include}" \
    --ts_proto_out="${stage}" \
    --ts_proto_opt="${ts_proto_opts}" \
    "${protos[@]}"
)

count="$(find "${stage}" -name '*.ts' -type f | wc -l)"
[[ "${count}" -gt 0 ]] || die 'protoc produced no files'

# berthd imports the service definitions but never a grpc-js client: have the
# generated clients load @grpc/grpc-js on first use (scripts/gen-api/).
node "${script_dir}/gen-api/lazy-clients.mjs" "${stage}"

rm -rf -- "${out_dir}"
mkdir -p "$(dirname "${out_dir}")"
cp -R "${stage}" "${out_dir}"
chmod -R u=rwX,go=rX "${out_dir}"

end_ns="$(date +%s%N)"
echo "gen-api: ${#protos[@]} protos -> ${count} files in src/api ($(((end_ns - start_ns) / 1000000)) ms)"
