# deb.sh is sourced by the bench scripts that need Debian packages. It
# defines install_deb, which installs the packages named when we may (root
# or password-less sudo); a package's service is not started (Debian's
# policy-rc.d in containers forbids it, and elsewhere it is left alone).
# The sourcing script defines die.

install_deb() {
	local sudo=""
	if [[ $(id -u) != 0 ]]; then
		sudo -n true 2>/dev/null || die "$* missing and cannot be installed (not root, no password-less sudo)"
		sudo="sudo"
	fi
	echo "installing $* with apt-get"
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
