// Uploads straight to the bucket with Uppy: the API records each file and presigns either
// one POST (small files) or a PUT per part (multipart); Uppy sends the bytes, reports
// progress, retries failed requests and parts, and cancels.
import Uppy from "@uppy/core";
import type { UppyFile } from "@uppy/core";
import AwsS3 from "@uppy/aws-s3";
import { api } from "./api";

interface PostUpload {
  method: "POST";
  url: string;
  fields: Record<string, string>;
}
interface MultipartUpload {
  method: "PUT";
  part_size: number;
  upload_id: string;
  parts: { part_number: number; url: string }[];
  complete_url: string;
}
export interface Meta {
  [key: string]: unknown;
  fileId?: string;
  upload?: PostUpload | MultipartUpload;
}
type Body = Record<string, never>;
export type UFile = UppyFile<Meta, Body>;

function upload(file: UFile): PostUpload | MultipartUpload {
  const u = file.meta.upload;
  if (!u) throw new Error(`${file.name}: the API gave no upload for it`);
  return u;
}

function multipart(file: UFile): MultipartUpload {
  const u = upload(file);
  if (u.method !== "PUT") throw new Error(`${file.name}: not a multipart upload`);
  return u;
}

interface PartBytes {
  signature: { url: string; method?: string; headers?: Record<string, string> };
  body: FormData | Blob;
  size?: number;
  onProgress: (ev: ProgressEvent) => void;
  onComplete: (etag: string) => void;
  signal?: AbortSignal;
}

/** Send one request's bytes to the bucket. As Uppy's own, except that a presigned POST
 * needs no ETag back: S3 sends one, moto's server does not, and nothing reads it (the
 * worker checks the object's size itself). A part's PUT must show its ETag. */
export function uploadPartBytes({ signature, body, onProgress, onComplete, signal }: PartBytes) {
  const method = (signature.method ?? "PUT").toUpperCase();
  return new Promise<{ ETag: string; location?: string }>((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException("aborted", "AbortError"));
    const xhr = new XMLHttpRequest();
    xhr.open(method, signature.url, true);
    for (const [k, v] of Object.entries(signature.headers ?? {})) xhr.setRequestHeader(k, v);
    const abort = () => xhr.abort();
    signal?.addEventListener("abort", abort);
    xhr.upload.addEventListener("progress", onProgress);
    xhr.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    xhr.addEventListener("error", () =>
      reject(new Error(`the bucket at ${new URL(signature.url).host} is unreachable`)),
    );
    xhr.addEventListener("load", () => {
      signal?.removeEventListener("abort", abort);
      if (xhr.status < 200 || xhr.status >= 300) {
        const why = /<Message>([^<]*)<\/Message>/.exec(xhr.responseText)?.[1];
        const err = new Error(`the bucket answered ${xhr.status}${why ? `: ${why}` : ""}`) as Error & {
          source: unknown;
        };
        err.source = xhr;
        return reject(err);
      }
      const etag = xhr.getResponseHeader("ETag");
      if (etag === null && method !== "POST")
        return reject(new Error("the bucket's ETag header cannot be read: its CORS rules must expose ETag"));
      onComplete(etag ?? "");
      resolve({ ETag: etag ?? "", location: xhr.getResponseHeader("Location") ?? undefined });
    });
    xhr.send(body);
  });
}

export function createUppy(): Uppy<Meta, Body> {
  // The parts must be the ones the API presigned: Uppy cuts the file before it asks for
  // the upload, and tells the cutter only the file's bytes.
  const partSizes = new WeakMap<object, number>();
  const uppy = new Uppy<Meta, Body>({ autoProceed: true, allowMultipleUploadBatches: true });
  // Before any byte goes, ask the API for the file's id and its presigned upload.
  uppy.addPreProcessor(async (ids) => {
    await Promise.all(
      ids.map(async (id) => {
        const file = uppy.getFile(id);
        if (!file || file.meta.fileId) return;
        const res = await api<{ file_id: string; upload: PostUpload | MultipartUpload }>("/api/uploads", {
          method: "POST",
          body: JSON.stringify({
            filename: file.name,
            size: file.size ?? 0,
            content_type: file.type || "application/octet-stream",
          }),
        });
        uppy.setFileMeta(id, { fileId: res.file_id, upload: res.upload });
        if (res.upload.method === "PUT" && file.data) partSizes.set(file.data, res.upload.part_size);
      }),
    );
  });
  uppy.use(AwsS3<Meta, Body>, {
    limit: 4,
    uploadPartBytes,
    retryDelays: [0, 1000, 3000, 5000],
    shouldUseMultipart: (file) => file.meta.upload?.method === "PUT",
    getUploadParameters: (file) => {
      const u = upload(file);
      if (u.method !== "POST") throw new Error("expected a presigned POST");
      return { method: "POST", url: u.url, fields: u.fields };
    },
    getChunkSize: (data) => partSizes.get(data) ?? 8 * 1024 * 1024,
    createMultipartUpload: (file) => {
      const u = multipart(file);
      return { uploadId: u.upload_id, key: file.meta.fileId ?? "" };
    },
    signPart: (file, { partNumber }) => {
      const part = multipart(file).parts[partNumber - 1];
      if (!part) throw new Error(`${file.name}: no presigned URL for part ${partNumber}`);
      return { method: "PUT", url: part.url };
    },
    // Parts are not listed back from the bucket: an upload resumes within this page.
    listParts: () => [],
    abortMultipartUpload: () => undefined,
    completeMultipartUpload: async (file, { parts }) => {
      await api(multipart(file).complete_url, {
        method: "POST",
        body: JSON.stringify({ parts: parts.map((p) => ({ part_number: p.PartNumber, etag: p.ETag })) }),
      });
      return {};
    },
  });
  return uppy;
}
