// The Vercel AI SDK's default OpenAI provider (`openai(model)` speaks the Responses API),
// configured only by OPENAI_BASE_URL and OPENAI_API_KEY. Prints what it got as JSON.
import { openai } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";

const model = openai(process.env.DOCENT_CORPUS);
const prompt = process.env.DOCENT_QUESTION;

const whole = await generateText({ model, prompt, maxRetries: 0 });

const stream = streamText({ model, prompt, maxRetries: 0 });
let streamed = "";
for await (const delta of stream.textStream) streamed += delta;
const streamedSources = await stream.sources;

console.log(
  JSON.stringify({
    text: whole.text,
    sources: whole.sources,
    usage: whole.usage,
    finishReason: whole.finishReason,
    streamed,
    streamedSources,
  }),
);
