FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY mailprobe ./mailprobe
COPY api ./api
COPY worker ./worker
COPY cli ./cli
# The versions pinned in constraints.txt (README, Development), not the newest of the day.
RUN pip install -c constraints.txt . && useradd --system --uid 10001 mailprobe
USER mailprobe

ENV MAILPROBE_HOST=0.0.0.0 MAILPROBE_PORT=8080
EXPOSE 8080 8081
CMD ["mailprobe", "serve"]
