# shellcheck shell=bash
# Configures and builds the tree. Source after common.sh.

# build_tree DIR BUILD_TYPE [CMAKE_ARGS...]: cmake configure + build of the
# repository into DIR (relative to the root).
build_tree() {
    local dir=$1 type=$2
    shift 2
    say "building $type into $dir/"
    cmake -S "$IG_ROOT" -B "$IG_ROOT/$dir" -DCMAKE_BUILD_TYPE="$type" "$@" || die "cmake configure failed"
    cmake --build "$IG_ROOT/$dir" -j"$(ig_jobs)" || die "build failed"
}
