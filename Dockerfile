# Headless Sickbay as a container image: the program, the C libraries it links and the CA
# certificates, nothing else (no shell, no package manager). Built from this machine's own
# files, no registry needed: `bash scripts/image.sh` makes the context (rootfs/) and runs
# `docker build`.
#
#   docker run -d --name sickbay --restart unless-stopped \
#     -v /var/run/docker.sock:/var/run/docker.sock -v sickbay:/data sickbay
#
# Settings: mount a folder holding sickbay.toml at /etc/sickbay (none: the defaults, every
# container of the engine). Sickbay recognises the container it runs in and never watches,
# heals or stops it.
FROM scratch
COPY rootfs/ /
ENV SICKBAY_DATA_DIR=/data \
    XDG_CONFIG_HOME=/etc \
    HOME=/data \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.opencontainers.image.title="sickbay" \
      org.opencontainers.image.description="Keeps a Docker stack alive: watch, heal, escalate, remember." \
      sickbay.enable="false"
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/usr/bin/sickbay", "status", "--check"]
ENTRYPOINT ["/usr/bin/sickbay"]
CMD ["watch"]
