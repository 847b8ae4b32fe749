import { ControlMode, HealthStatus, IngestStatus, IntentKind, IntentStage, LifecycleState, SpriteStatus, TransportKind } from "../generated/prisma/enums";
import { builder } from "./builder";

export const LifecycleStateEnum = builder.enumType(LifecycleState, { name: "LifecycleState" });
export const TransportKindEnum = builder.enumType(TransportKind, { name: "TransportKind" });
export const SpriteStatusEnum = builder.enumType(SpriteStatus, { name: "SpriteStatus" });
export const IngestStatusEnum = builder.enumType(IngestStatus, { name: "IngestStatus" });
export const HealthStatusEnum = builder.enumType(HealthStatus, { name: "HealthStatus" });
export const ControlModeEnum = builder.enumType(ControlMode, { name: "ControlMode" });
export const IntentKindEnum = builder.enumType(IntentKind, { name: "IntentKind" });
export const IntentStageEnum = builder.enumType(IntentStage, { name: "IntentStage" });
