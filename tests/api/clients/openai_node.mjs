// The official Node SDK against Docent's /v1/responses, configured only by OPENAI_BASE_URL and
// OPENAI_API_KEY. Prints what it got as one JSON object for the test to check.
import OpenAI from "openai";

const client = new OpenAI({ maxRetries: 0 });
const model = process.env.DOCENT_CORPUS;
const question = process.env.DOCENT_QUESTION;

const whole = await client.responses.create({ model, input: question });

const stream = await client.responses.create({
  model,
  input: [{ role: "user", content: [{ type: "input_text", text: question }] }],
  previous_response_id: whole.id,
  stream: true,
});
const types = [];
const sequence = [];
let streamed = "";
let completed = null;
for await (const event of stream) {
  types.push(event.type);
  sequence.push(event.sequence_number);
  if (event.type === "response.output_text.delta") streamed += event.delta;
  if (event.type === "response.completed") completed = event.response;
}

console.log(
  JSON.stringify({
    id: whole.id,
    text: whole.output_text,
    annotations: whole.output[0].content[0].annotations,
    usage: whole.usage,
    types,
    sequence,
    streamed,
    streamedId: completed?.id,
    previous: completed?.previous_response_id,
  }),
);
