"""The fake's HTTP routes, each a small `work` function run through `ProdiaCore._serve`."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from tests.fakes.prodia.constants import API_PREFIX, MODERATION_ERROR, OUTPUT_LIST_STYLES
from tests.fakes.prodia.jobs import FakeJob, _job_json
from tests.fakes.prodia.processing import JobsMixin
from tests.fakes.prodia.records import _Body, _Reply


def output_listing(names: list[str], style: str) -> tuple[bytes, str]:
    """The body and content type of GET output for these names, spelled in `style`."""
    if style == "json":
        return json.dumps(names).encode(), "application/json"
    if style == "objects":
        entries = [{"name": n, "content_type": "video/mp4"} for n in names]
        return json.dumps(entries).encode(), "application/json"
    if style == "text":
        return "".join(f"{n}\n" for n in names).encode(), "text/plain"
    if style == "quoted":
        return "\n".join(f'"{n}"' for n in names).encode(), "text/plain"
    if style == "comma":
        return ", ".join(names).encode(), "text/plain"
    raise ValueError(f"unknown output list style {style!r}; use one of {OUTPUT_LIST_STYLES}")


class RoutesMixin(JobsMixin):
    """The HTTP handlers: sync and async job creation, and the async reads (state, job.json, output)."""

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(f"{API_PREFIX}/job", self._post_sync)
        router.add_post(f"{API_PREFIX}/job/async", self._post_async)
        router.add_get(f"{API_PREFIX}/job/async/{{id}}/job.state.current", self._get_state)
        router.add_get(f"{API_PREFIX}/job/async/{{id}}/job.json", self._get_job_json)
        router.add_get(f"{API_PREFIX}/job/async/{{id}}/output", self._get_output)
        router.add_get(f"{API_PREFIX}/job/async/{{id}}/output/{{filename}}", self._get_file)
        router.add_route("*", "/{tail:.*}", self._unknown)

    # -- jobs --------------------------------------------------------------------------------------------

    async def _post_sync(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "POST /job", self._work_sync)

    async def _post_async(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "POST /job/async", self._work_async)

    async def _work_sync(self, request: web.Request, body: _Body | None) -> _Reply:
        accepted = await self._accept(request, body, mode="sync")
        if isinstance(accepted, _Reply):
            return accepted
        job, image = accepted
        await self._run_job(job, image)
        if job.state == "failed":
            if job.error == MODERATION_ERROR:
                return _Reply(
                    400, multipart_job=json.dumps(_job_json(job, with_price=False)).encode(), job=job
                )
            return _Reply(
                500, content_type="text/plain", data=f"internal error: {job.error}".encode(), job=job
            )
        if job.state != "completed":  # the server is stopping under a waiting client
            return _Reply(503, job=job, drop=True)
        assert job.output_path is not None
        if request.headers.get("Accept", "").strip() == "video/mp4":
            return _Reply(200, file=job.output_path, job=job)
        with_price = request.query.get("price") == "true"
        job_json = _job_json(job, with_price=with_price)
        return _Reply(200, multipart_job=json.dumps(job_json).encode(), file=job.output_path, job=job)

    async def _work_async(self, request: web.Request, body: _Body | None) -> _Reply:
        accepted = await self._accept(request, body, mode="async")
        if isinstance(accepted, _Reply):
            return accepted
        job, image = accepted
        job_json = _job_json(job, with_price=request.query.get("price") == "true")
        task = asyncio.create_task(self._run_job(job, image))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return _Reply(201, data=json.dumps(job_json).encode(), job=job)

    # -- async reads -------------------------------------------------------------------------------------

    def _async_job(self, request: web.Request) -> FakeJob | None:
        job = self.jobs.get(request.match_info["id"])
        # Sync jobs have no async resource; an expired job is as unknown as a wrong id (still billed).
        if job is None or job.mode != "async" or self.is_expired(job):
            return None
        return job

    async def _get_state(self, request: web.Request) -> web.StreamResponse:
        async def work(request: web.Request, _body: _Body | None) -> _Reply:
            job = self._async_job(request)
            if job is None:
                return _Reply(404, content_type="text/plain", data=b"job not found")
            state = "processing" if job.state == "queued" else job.state
            return _Reply(200, content_type="text/plain", data=state.encode(), job=job)

        return await self._serve(request, "GET state", work)

    async def _get_job_json(self, request: web.Request) -> web.StreamResponse:
        async def work(request: web.Request, _body: _Body | None) -> _Reply:
            job = self._async_job(request)
            if job is None:
                return _Reply(404, content_type="text/plain", data=b"job not found")
            job_json = _job_json(job, with_price=request.query.get("price") == "true")
            return _Reply(200, data=json.dumps(job_json).encode(), job=job)

        return await self._serve(request, "GET job.json", work)

    async def _get_output(self, request: web.Request) -> web.StreamResponse:
        async def work(request: web.Request, _body: _Body | None) -> _Reply:
            job = self._async_job(request)
            if job is None:
                return _Reply(404, content_type="text/plain", data=b"job not found")
            data, content_type = output_listing(sorted(job.outputs), self.output_list_style)
            return _Reply(200, content_type=content_type, data=data, job=job)

        return await self._serve(request, "GET output", work)

    async def _get_file(self, request: web.Request) -> web.StreamResponse:
        async def work(request: web.Request, _body: _Body | None) -> _Reply:
            job = self._async_job(request)
            if job is None:
                return _Reply(404, content_type="text/plain", data=b"job not found")
            path = job.outputs.get(request.match_info["filename"])
            if path is None:
                return _Reply(404, content_type="text/plain", data=b"output not found", job=job)
            return _Reply(200, file=path, job=job)

        return await self._serve(request, "GET file", work)

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        async def work(_request: web.Request, _body: _Body | None) -> _Reply:
            return _Reply(404, content_type="text/plain", data=b"404: Not Found")

        return await self._serve(request, None, work)
