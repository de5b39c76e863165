package dev.berth.podsandbox.sandbox;

/** SANDBOX_READY / SANDBOX_NOTREADY. */
public enum SandboxState { READY, NOTREADY }
