FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    VBWD_SQLITE_PATH=/app/var/db.sqlite3

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN useradd --system --home /app vbwd \
    && SECRET_KEY=build-only VBWD_JWT_SIGNING_KEY=build-only python manage.py collectstatic --no-input \
    && mkdir -p /app/var/media && chown -R vbwd /app/var /app/staticfiles
USER vbwd

EXPOSE 8000
# Worker class, workers, threads and keep-alive: gunicorn.conf.py (each overridable from the
# environment, e.g. WEB_CONCURRENCY; see docs/operations.md).
CMD ["gunicorn", "-c", "gunicorn.conf.py", "vbwd.wsgi:application"]
