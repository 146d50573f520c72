"""Code that belongs to one lesson: its widgets, data helpers, figures and measurements
built on the core (`helpers.timing`, `helpers.plots`, `helpers.ui`, `helpers.quiz`).

| module | lesson | what |
|---|---|---|
| `envcheck` | 00 | the environment check |
| `stream_widgets` | 02 | the invoke vs stream race and the Stop button (re-exports the two below) |
| `stream_race` | 02 | the race: `race`, `RaceResult`, the `StreamRace` widget |
| `stream_rules` | 02 | one stream timed by two rules: first text vs first output (tool calls, structured output) |
| `stream_stop` | 02 | stopping a stream: `stop_stream`, `server_change`, the `StoppableStream` widget |
| `batch_lab` | 03 | the prompts, `run_batch`, the batch lab (re-exports `sweep`, `first_result`) |
| `sweep` | 03 | the concurrency sweep: measured, predicted, in words |
| `first_result` | 03 | batch vs batch_as_completed |
| `server_batching` | 03 | server slots on the real local model (re-exports `slots_figure`) |
| `server_batching_plot` | 03 | the slots experiment's figure |
| `compare` | 04 | sizing and running the three modes on one job (re-exports the four below) |
| `compare_results` | 04 | what a run measured: `Spread`, `ModeComparison` |
| `compare_verdicts` | 04 | verdicts, guesses beside measurements, the mode table |
| `compare_plots` | 04 | the two figures of a comparison |
| `mapping` | 04 | the scenario -> mode exercise and its widget |
| `modes` | 04 | the three ways to do one job (invoke loop, stream loop, batch), as the cells show them |
| `serving` | 04 | the serving vocabulary (TTFT, ITL, TPOT, E2E, goodput) worded and drawn from a run |
| `capacity` | 04b | the capacity lab: load, knee, goodput, Little's law, limits, roofline (re-exports `capacity_*`) |
| `glass_box` | 04b | the server's view: reading `/metrics` beside the client's own timings |
| `rag` | 05 | documents, embeddings, the RAG chain, the streamed answer (re-exports the two below) |
| `rag_ingest` | 05 | batched ingestion: timed, swept, plotted |
| `rag_eval` | 05 | evaluation questions, scores, the table |
| `cost` | 05 | usage of the calls you made (re-exports the two below) |
| `pricing` | 05 | the price file, one call's cost, a month's bill |
| `cost_widget` | 05 | the monthly bill's plot and settings (dropdowns and number boxes) |
| `run_progress` | 05 | a tqdm bar moved by a LangChain callback: one step per input of a `.batch()` |
| `batch_api` | 05 | a provider's Batch API through the `openai` SDK: requests, polling, matching, the bill |

Only lessons (notebooks) and these modules import from here; the core never does.
Notebooks reach them as `from helpers import rag` (see `helpers/__init__.py`); a module a
notebook does not import by name is re-exported by the one it does, so `rag.score` still works.
"""
