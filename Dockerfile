# Two stages: build a wheel with the toolchain, run it on a slim image as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/sora-bot.db \
    OUTPUT_DIR=/data/clips \
    MPLCONFIGDIR=/tmp/matplotlib
RUN useradd --create-home --uid 10001 sora \
    && mkdir -p /data/clips \
    && chown -R sora:sora /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
USER sora
WORKDIR /home/sora
VOLUME ["/data"]
# Healthy when the database is at the current schema and the scheduler wrote a heartbeat recently.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["sora-bot", "health", "--max-age", "120"]
CMD ["sora-bot", "run"]
