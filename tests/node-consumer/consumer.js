'use strict';

// A consumer that is not .NET. It reads the messages DomainEvents' relay put on an exchange in the CloudEvents
// (structured and binary) and plain JSON envelopes, checks each CloudEvent with the cloudevents SDK's validation,
// then publishes one plain-JSON message that a .NET consumer must handle. It prints one JSON summary on stdout and
// exits 0 when every message was valid, 1 otherwise.
//
// Environment:
//   AMQP_URI          amqp://guest:guest@127.0.0.1:5672/ (required)
//   EXCHANGE          the topic exchange to read from and publish to (required)
//   QUEUE             the queue to read from; declared and bound to EXCHANGE with '#' (default: node-consumer)
//   EXPECT            how many messages to read (default 3)
//   TIMEOUT_MS        how long to wait for them (default 30000)
//   PUBLISH_ROUTING_KEY, PUBLISH_ORDER_ID   the plain-JSON message to publish (default order.placed, a new UUID)

const crypto = require('node:crypto');
const amqp = require('amqplib');
const { CloudEvent, ValidationError } = require('cloudevents');

const CLOUDEVENTS_PREFIXES = ['cloudEvents_', 'cloudEvents:'];
const PLAIN_FIELDS = ['eventId', 'eventTime', 'eventType', 'aggregate', 'payload'];

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`Set ${name}.`);
  }
  return value;
}

function text(value) {
  if (value === undefined || value === null) {
    return undefined;
  }
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

function mediaType(contentType) {
  return (contentType || '').split(';')[0].trim().toLowerCase();
}

// Structured mode: the body is the whole event in the CloudEvents JSON format.
function readStructured(message) {
  const event = new CloudEvent(JSON.parse(message.content.toString('utf8')));
  return { envelope: 'cloudevents-structured', event };
}

// Binary mode, per the CloudEvents AMQP binding: attributes are prefixed application properties (AMQP headers),
// the content type is datacontenttype, the body is the data.
function readBinary(message) {
  const attributes = {};
  for (const [name, value] of Object.entries(message.properties.headers || {})) {
    const prefix = CLOUDEVENTS_PREFIXES.find((p) => name.startsWith(p));
    if (prefix) {
      attributes[name.slice(prefix.length)] = text(value);
    }
  }
  attributes.datacontenttype = message.properties.contentType;
  const body = message.content.toString('utf8');
  attributes.data = mediaType(message.properties.contentType) === 'application/json' ? JSON.parse(body) : body;
  return { envelope: 'cloudevents-binary', event: new CloudEvent(attributes) };
}

function readPlain(message) {
  const body = JSON.parse(message.content.toString('utf8'));
  const missing = PLAIN_FIELDS.filter((field) => !(field in body));
  if (missing.length > 0) {
    throw new Error(`plain JSON envelope without ${missing.join(', ')}`);
  }
  if (Number.isNaN(Date.parse(body.eventTime))) {
    throw new Error(`eventTime '${body.eventTime}' is not a time`);
  }
  return { envelope: 'plain-json', plain: body };
}

function summarize(message) {
  const headers = message.properties.headers || {};
  const base = {
    routingKey: message.fields.routingKey,
    contentType: message.properties.contentType,
    messageId: message.properties.messageId,
    deMessageType: text(headers['de-message-type']),
    deVersion: text(headers['de-version']),
  };
  try {
    let read;
    if (mediaType(message.properties.contentType) === 'application/cloudevents+json') {
      read = readStructured(message);
    } else if (CLOUDEVENTS_PREFIXES.some((p) => headers[`${p}type`] !== undefined)) {
      read = readBinary(message);
    } else {
      read = readPlain(message);
    }

    if (read.event) {
      const event = read.event;
      event.validate();
      return {
        ...base,
        envelope: read.envelope,
        valid: true,
        id: event.id,
        source: event.source,
        type: event.type,
        subject: event.subject,
        time: event.time,
        specversion: event.specversion,
        datacontenttype: event.datacontenttype,
        version: event.version === undefined ? undefined : Number(event.version),
        partitionkey: event.partitionkey,
        data: event.data,
      };
    }

    return { ...base, envelope: read.envelope, valid: true, ...read.plain };
  } catch (error) {
    return {
      ...base,
      valid: false,
      error: error instanceof ValidationError ? `CloudEvents validation: ${error.message}` : String(error.message || error),
    };
  }
}

async function main() {
  const uri = required('AMQP_URI');
  const exchange = required('EXCHANGE');
  const queue = process.env.QUEUE || 'node-consumer';
  const expect = Number(process.env.EXPECT || 3);
  const timeoutMs = Number(process.env.TIMEOUT_MS || 30000);

  const connection = await amqp.connect(uri);
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertExchange(exchange, 'topic', { durable: true, autoDelete: false });
    await channel.assertQueue(queue, { durable: false, autoDelete: false });
    await channel.bindQueue(queue, exchange, '#');

    const received = [];
    let consumerTag;
    await channel.prefetch(1);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms with ${received.length} of ${expect} messages`)),
        timeoutMs,
      );
      channel.consume(queue, (message) => {
        if (message === null) {
          return;
        }
        if (received.length >= expect) {
          channel.nack(message, false, true);
          return;
        }
        received.push(summarize(message));
        channel.ack(message);
        if (received.length >= expect) {
          clearTimeout(timer);
          resolve();
        }
      }).then((ok) => { consumerTag = ok.consumerTag; }, reject);
    });
    await channel.cancel(consumerTag);

    // A plain-JSON message as a publisher that speaks neither MassTransit nor CloudEvents sends it: no de-* headers and
    // no AMQP message-id; the .NET consumer takes its id from eventId.
    const published = {
      eventId: crypto.randomUUID(),
      eventTime: new Date().toISOString(),
      eventType: 'order.placed',
      aggregate: 'Order',
      payload: { orderId: process.env.PUBLISH_ORDER_ID || crypto.randomUUID(), sequence: 99 },
    };
    const routingKey = process.env.PUBLISH_ROUTING_KEY || 'order.placed';
    channel.publish(exchange, routingKey, Buffer.from(JSON.stringify(published)), {
      contentType: 'application/json',
      persistent: true,
    });
    await channel.waitForConfirms();

    const summary = { received, published: { routingKey, ...published } };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    process.exitCode = received.every((m) => m.valid) ? 0 : 1;
  } finally {
    await connection.close();
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exitCode = 2;
});
