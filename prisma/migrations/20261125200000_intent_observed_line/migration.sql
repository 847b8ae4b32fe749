-- AlterTable
ALTER TABLE "ControlIntent" ADD COLUMN "observedLine" INTEGER;
