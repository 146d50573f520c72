"""Code that belongs to one lesson: its widgets, data helpers, figures and measurements
built on the core (`helpers.timing`, `helpers.plots`, `helpers.ui`, `helpers.quiz`).

| module | lesson | what |
|---|---|---|
| `envcheck` | 00 | the environment check |
| `batch_lab` | 03 | the batch lab, the concurrency sweep, batch vs batch_as_completed |
| `server_batching` | 03 | server slots on the real local model |
| `compare` | 04 | the three modes on one job, verdicts, the scenario mapping |
| `rag` | 05 | documents, embeddings, the RAG chain, evaluation |
| `cost` | 05 | prices, usage, the monthly bill |

Only lessons (notebooks) and these modules import from here; the core never does.
Notebooks reach them as `from helpers import rag` (see `helpers/__init__.py`).
"""
