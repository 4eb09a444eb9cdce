#! /usr/bin/env bash
# Before the new release serves: wait for the database, migrate it, seed the first user.
set -e
set -x

python app/backend_pre_start.py
alembic upgrade head
python app/initial_data.py
