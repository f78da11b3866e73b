# The `reconcile` image: the command and its daemon (`reconcile --watch`), with git and ssh for
# `--pull` and the writer lease. Build it from the checkout:
#
#   docker build -t reconcile:local .
#
# and see docs/daemon.md (The container image) for running and pushing it.
#
# The base is pinned to an exact patch and Debian release rather than a digest: a digest can only
# be taken from the registry (`docker buildx imagetools inspect python:3.11.13-slim-bookworm`),
# and one copied from elsewhere, unchecked, would break every build if it were wrong. To pin
# harder, append `@sha256:<index digest>` to both FROM lines; tests/unit/test_dockerfile.py
# accepts either form.

# --- build: the product's wheel, from the checkout ------------------------------------------
FROM python:3.11.13-slim-bookworm AS build

WORKDIR /src
# What the wheel is made of, nothing more (.dockerignore keeps the rest out of the context).
COPY pyproject.toml README.md ./
COPY schemas/ schemas/
COPY reconciler/ reconciler/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# --- the image: the wheel installed, git and ssh, a user of its own -------------------------
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# git for --pull and the writer lease's ref, ssh for a deploy key; ca-certificates (for git
# over https) is already in the base image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client \
    && rm -rf /var/lib/apt/lists/*

# A fixed UID: Kubernetes' runAsNonRoot checks it, and a checkout mounted from the host is
# chowned to it (docs/daemon.md).
RUN groupadd --gid 10001 reconcile \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/reconcile \
       --shell /usr/sbin/nologin reconcile \
    && mkdir /repo && chown 10001:10001 /repo

# The product only: no emulator (`--sandbox` needs the sandbox distribution) and no test tools.
COPY --from=build /dist/*.whl /tmp/wheels/
RUN pip install --no-cache-dir /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels

USER 10001:10001
ENV HOME=/home/reconcile
# The checkout: mount it here, or set the working directory (Kubernetes' workingDir).
WORKDIR /repo

# No HEALTHCHECK: /healthz is served only with --listen, which the default command has not,
# and it is a readiness signal (a bad spec fails it), not a reason to restart.
ENTRYPOINT ["reconcile"]
CMD ["--watch"]
