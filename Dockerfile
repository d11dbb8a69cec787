# birthreg (TEST): one image for the ward and the registry services (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BIRTHREG_DATA_DIR=/data \
    BIRTHREG_ENV=production

# Pango and the DejaVu fonts: WeasyPrint renders the certificate PDF (Kazakh Cyrillic).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY birthreg ./birthreg
COPY signing ./signing
COPY templates ./templates
# The two services' start scripts (docker-compose.yml: the ward, its seal issuer, the registry).
COPY docker/ward.sh docker/registry.sh docker/issue-seal.sh docker/wait-for.sh /usr/local/lib/birthreg/
# A regular install: the package into site-packages, templates/ into /usr/local/share/birthreg.
RUN pip install ".[postgres]" \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin birthreg \
    && mkdir -p /data /exchange && chown birthreg /data /exchange && chmod 0700 /data

WORKDIR /data
USER birthreg
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2)"

CMD ["sh", "-c", "birthreg init && birthreg serve --host 0.0.0.0 --port ${PORT:-8000}"]
