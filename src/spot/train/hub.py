"""Uploading a trained model to the Hugging Face Hub: ``spot train --push-to-hub REPO``.

The token comes from the environment variable ``HF_TOKEN`` only: never from a flag (it
would sit in shell histories and in the run's recorded settings), and it is never logged
or written. The repository is created private when it does not exist. Only the offline
parts are tested (the refusals, and that nothing is pushed when the option is unset);
the upload itself has not been run against the real hub.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from spot.checks import OptionError

TOKEN_ENV = "HF_TOKEN"
_REPO = re.compile(r"^(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*$")
_OFF = ("1", "on", "yes", "true")


def check_push(repo: str) -> None:
    """Refuse, before any training, an upload that cannot happen (one line, no token)."""
    if not _REPO.match(repo) or len(repo) > 96:
        raise OptionError(f"--push-to-hub {repo!r}: not a repository name (NAME or OWNER/NAME)")
    if not os.environ.get(TOKEN_ENV, "").strip():
        raise OptionError(
            f"--push-to-hub {repo}: set the environment variable {TOKEN_ENV} to a Hugging Face "
            "token with write access (spot reads the token from there only)"
        )
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFF:
        raise OptionError(f"--push-to-hub {repo}: HF_HUB_OFFLINE is set; unset it to upload")


def push_final(push_to_hub: str, folder: Path, say=print) -> str | None:
    """Upload ``folder`` (a run's ``final/``) to the repository named; returns its URL, or
    None when no repository is named (then nothing is imported or sent)."""
    if not push_to_hub:
        return None
    check_push(push_to_hub)
    from huggingface_hub import HfApi

    token = os.environ[TOKEN_ENV].strip()
    api = HfApi(token=token)
    try:
        repo = api.create_repo(push_to_hub, private=True, exist_ok=True)
        api.upload_folder(
            repo_id=repo.repo_id, folder_path=str(folder), commit_message="spot train: final model"
        )
    except Exception as e:  # one line naming the repository; the token is cut out
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise ValueError(
            f"--push-to-hub {push_to_hub}: upload failed ({first.replace(token, '***')})"
        ) from None
    say(f"train: pushed {folder} to {repo}")
    return str(repo)
